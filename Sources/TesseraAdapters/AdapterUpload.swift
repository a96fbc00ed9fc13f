import Foundation
import TesseraFormats

/// The two PEFT files of an upload: given as two parts, or inside one `.tar` / `.tar.zst` of the PEFT directory.
public enum AdapterUpload {
    /// `adapter_config.json` and `adapter_model.safetensors` from an archive (at its top level or in one directory),
    /// decompressing at most `limit` bytes.
    public static func unpack(archive: Data, limit: Int) throws(AdapterError) -> (config: Data, weights: Data) {
        let zstdMagic: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
        let tar = archive.prefix(4).elementsEqual(zstdMagic) ? try Zstd.decompressStream(archive, limit: limit, name: "file") : archive
        let files: [Tar.Entry]
        do { files = try Tar.files(tar) } catch { throw AdapterError("file: not a tar archive of a PEFT directory (\(error.message))") }
        func find(_ name: String) throws(AdapterError) -> Data {
            let matches = files.filter { $0.name == name || ($0.name.hasSuffix("/" + name) && $0.name.split(separator: "/").count == 2) }
            guard matches.count == 1 else {
                if files.contains(where: { $0.name.hasSuffix("adapter_model.bin") }) && name.hasSuffix(".safetensors") {
                    throw AdapterError("file: adapter_model.bin is a pickle file, which is refused (it can run code); save the adapter with safetensors (save_pretrained's default)")
                }
                throw AdapterError("file: the archive must hold exactly one \(name) (at its top level or in one directory); it holds \(files.map(\.name).prefix(8).joined(separator: ", "))")
            }
            return matches[0].data
        }
        return (try find("adapter_config.json"), try find("adapter_model.safetensors"))
    }
}
