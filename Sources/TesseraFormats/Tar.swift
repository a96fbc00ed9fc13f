import Foundation

/// Regular files of a tar archive (ustar, GNU and pax headers as tar writes them), every length checked: the
/// adapters API takes a PEFT directory as one `.tar` or `.tar.zst` upload.
public enum Tar {
    public struct Entry: Sendable, Equatable {
        /// Path inside the archive as written (never used as a path on disk).
        public var name: String
        public var data: Data
    }

    /// The regular files, at most `maxEntries` of them; other entry kinds (directories, links) are skipped.
    public static func files(_ archive: Data, maxEntries: Int = 64) throws(FormatError) -> [Entry] {
        var entries: [Entry] = []
        var at = 0
        var longName: String?  // GNU 'L' or pax 'path' for the next entry
        var headers = 0
        while at + 512 <= archive.count {
            let header = archive.subdata(in: (archive.startIndex + at)..<(archive.startIndex + at + 512))
            if header.allSatisfy({ $0 == 0 }) { break }  // end of archive
            headers += 1
            guard headers <= 4 * maxEntries + 16 else { throw FormatError("tar", "more than \(maxEntries) entries") }
            guard checksumMatches(header) else { throw FormatError("tar", "bad header checksum at byte \(at)") }
            let size = try octal(header, 124, 12, at: at)
            let type = header[header.startIndex + 156]
            let dataStart = at + 512
            guard size <= archive.count - dataStart else { throw FormatError("tar", "entry at byte \(at) claims \(size) bytes, past the end") }
            let body = archive.subdata(in: (archive.startIndex + dataStart)..<(archive.startIndex + dataStart + size))
            let nameField = string(header, 0, 100), prefix = string(header, 345, 155)
            var name = longName ?? (prefix.isEmpty ? nameField : prefix + "/" + nameField)
            longName = nil
            switch type {
            case UInt8(ascii: "0"), 0:
                name = name.hasPrefix("./") ? String(name.dropFirst(2)) : name
                guard entries.count < maxEntries else { throw FormatError("tar", "more than \(maxEntries) files") }
                entries.append(Entry(name: name, data: body))
            case UInt8(ascii: "L"):
                longName = String(decoding: body.prefix { $0 != 0 }, as: UTF8.self)
            case UInt8(ascii: "x"):
                longName = paxPath(body)
            default:
                break  // directories, links, global pax headers: nothing to read
            }
            at = dataStart + (size + 511) / 512 * 512
        }
        return entries
    }

    private static func string(_ h: Data, _ offset: Int, _ length: Int) -> String {
        let field = h[(h.startIndex + offset)..<(h.startIndex + offset + length)]
        return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func octal(_ h: Data, _ offset: Int, _ length: Int, at: Int) throws(FormatError) -> Int {
        let field = h[(h.startIndex + offset)..<(h.startIndex + offset + length)]
        if let first = field.first, first & 0x80 != 0 { throw FormatError("tar", "entry at byte \(at) is too large") }  // base-256
        var value = 0
        for c in field {
            if c == 0 || c == 0x20 { if value > 0 { break } else { continue } }
            guard (0x30...0x37).contains(c), value < (1 << 40) else { throw FormatError("tar", "bad number in the header at byte \(at)") }
            value = value * 8 + Int(c - 0x30)
        }
        return value
    }

    private static func checksumMatches(_ h: Data) -> Bool {
        var sum = 0
        for (i, c) in h.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int(c) }
        guard let stored = try? octal(h, 148, 8, at: 0) else { return false }
        return stored == sum
    }

    /// `path=` from pax extended-header records ("<length> <key>=<value>\n").
    private static func paxPath(_ body: Data) -> String? {
        for record in String(decoding: body, as: UTF8.self).split(separator: "\n") {
            guard let space = record.firstIndex(of: " ") else { continue }
            let kv = record[record.index(after: space)...]
            if kv.hasPrefix("path=") { return String(kv.dropFirst(5)) }
        }
        return nil
    }
}
