import Foundation
import Testing
import TesseraAdapters
import TesseraServer

/// What a crash can leave in the data directory, and what the next start makes of it.
@Suite struct DataRecoveryTests {
    @Test func startUpRemovesWhatACrashLeftAndKeepsWhatWasAcknowledged() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-recovery-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let registry = try SQLiteRegistry(directory: dir)
        let store = try AdapterStore(directory: dir.appendingPathComponent("adapters"))
        let (tenant, _) = try registry.createTenant(name: "acme")
        let lora = AdapterAPITests.fixtures.appendingPathComponent("lora")
        let adapter = try PEFTAdapter.load(config: Data(contentsOf: lora.appendingPathComponent("adapter_config.json")),
                                           weights: Data(contentsOf: lora.appendingPathComponent("adapter_model.safetensors")),
                                           model: ServerTests.model, precision: .f32)
        // Acknowledged: file and row.
        try store.write(adapter, id: "akept")
        _ = try registry.addAdapter(tenantID: tenant.id, name: "kept", kind: "lora", bytes: 1, storeID: "akept")
        // An upload killed after its file, before its row; a delete killed after its rows, before its file.
        try store.write(adapter, id: "aorphan")
        // A write killed before its rename.
        try Data("partial".utf8).write(to: store.directory.appendingPathComponent(".anew.1234.tmp"))
        // A row whose file someone removed by hand.
        _ = try registry.addAdapter(tenantID: tenant.id, name: "lost", kind: "lora", bytes: 1, storeID: "alost")

        let report = try DataRecovery.recover(registry: registry, store: store)
        #expect(report.temporaries == 1 && report.orphanFiles == 1 && report.rowsWithoutFiles == ["alost"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory.path) == ["akept.tsa.zst"])
        #expect(try registry.adapters(tenantID: tenant.id).map(\.name) == ["kept"])
        #expect(try DataRecovery.recover(registry: registry, store: store).isClean, "a second start finds nothing to do")
        _ = try store.read(id: "akept", config: ServerTests.model.config)
    }
}
