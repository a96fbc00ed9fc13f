import Foundation
import Testing
import TesseraLoadTest

@Suite struct WorkloadTests {
    func scenario(_ n: Int = 2000) -> Scenario {
        var s = Scenario()
        s.num_prompts = n
        s.request_rate = 4
        s.seed = 42
        return s
    }

    @Test func theSameSeedPlansTheSameRequests() {
        var s = scenario(50)
        s.adapters.distribution = .power_law
        s.adapters.num_adapters = 20
        s.tenants = [TenantSpec(name: "a"), TenantSpec(name: "b")]
        #expect(Workload.plan(s) == Workload.plan(s))
        var other = s
        other.seed = 43
        #expect(Workload.plan(s) != Workload.plan(other))
    }

    @Test func changingTenantsLeavesArrivalsAndPromptsAlone() {
        var s = scenario(30)
        let before = Workload.plan(s)
        s.tenants = [TenantSpec(name: "a"), TenantSpec(name: "b", share: 3)]
        let after = Workload.plan(s)
        #expect(before.map(\.arrival) == after.map(\.arrival))
        #expect(before.map(\.prompt) == after.map(\.prompt))
    }

    @Test func fixedRateArrivalsEndAtCountOverRateAndArePoisson() {
        let plan = Workload.plan(scenario())
        #expect(abs(plan.last!.arrival - 2000.0 / 4) < 1e-6)
        let gaps = zip(plan.dropFirst(), plan).map { $0.arrival - $1.arrival }
        let mean = Statistics.mean(gaps), cv = Statistics.std(gaps) / mean
        // Exponential gaps: coefficient of variation 1 (sample of 2000 with a fixed seed).
        #expect(abs(mean - 0.25) < 0.01)
        #expect(abs(cv - 1) < 0.08)
    }

    @Test func burstinessSetsTheGammaShape() {
        var s = scenario()
        s.burstiness = 4
        let plan = Workload.plan(s)
        let gaps = zip(plan.dropFirst(), plan).map { $0.arrival - $1.arrival }
        // Gamma(k): coefficient of variation 1/sqrt(k).
        #expect(abs(Statistics.std(gaps) / Statistics.mean(gaps) - 0.5) < 0.05)
    }

    @Test func allAtOnceWithoutARate() {
        var s = scenario(10)
        s.request_rate = nil
        #expect(Workload.plan(s).allSatisfy { $0.arrival == 0 })
    }

    @Test func aLinearRampUpSpeedsUp() {
        var s = scenario(400)
        s.request_rate = nil
        s.ramp_up_strategy = .linear
        s.ramp_up_start_rps = 1
        s.ramp_up_end_rps = 20
        let plan = Workload.plan(s)
        let first = plan[100].arrival - plan[0].arrival, last = plan[399].arrival - plan[299].arrival
        #expect(first > 4 * last)
    }

    @Test func aDurationBoundRunStopsAtItsDuration() {
        var s = scenario()
        s.num_prompts = nil
        s.duration = 10
        var w = Workload(scenario: s)
        var n = 0, last = 0.0
        while let r = w.next() { n += 1; last = r.arrival }
        #expect(last <= 10)
        #expect((25...55).contains(n))
    }

    @Test func lengthsStayInTheirRange() {
        var s = scenario(500)
        s.random_input_len = 100
        s.random_output_len = 10
        s.random_range_ratio = 0.5
        let plan = Workload.plan(s)
        #expect(plan.allSatisfy { (50...150).contains($0.inputLength) && (5...15).contains($0.outputLength) })
        #expect(plan.allSatisfy { if case .tokens(let ids) = $0.prompt { ids.count == $0.inputLength && ids.allSatisfy { (1000..<30000).contains($0) } } else { false } })
        #expect(Set(plan.map(\.inputLength)).count > 50)
    }

    @Test func chatPromptsAreWords() {
        var s = scenario(5)
        s.endpoint = "/v1/chat/completions"
        s.random_input_len = 7
        for r in Workload.plan(s) {
            guard case .text(let t) = r.prompt else { Issue.record("chat prompt is not text"); continue }
            #expect(t.split(separator: " ").count == 7)
        }
    }

    @Test func powerLawFavoursLowIndicesAsSLoRADoes() {
        var s = scenario(4000)
        s.adapters.distribution = .power_law
        s.adapters.num_adapters = 100
        s.adapters.alpha = 0.5
        let idx = Workload.plan(s).map { Int($0.adapter!.dropFirst("lt-adapter-".count))! }
        #expect(idx.allSatisfy { (0..<100).contains($0) })
        // power(0.5) = U²: P(index < 25) = sqrt(0.25) = 0.5.
        let low = Double(idx.filter { $0 < 25 }.count) / 4000
        #expect(abs(low - 0.5) < 0.03)
    }

    @Test func punicaScenarios() {
        var s = scenario(300)
        s.adapters.num_adapters = 30
        s.adapters.distribution = .distinct
        #expect(Workload.plan(s).map(\.adapter) == (0..<300).map { "lt-adapter-\($0 % 30)" })
        s.adapters.distribution = .identical
        #expect(Set(Workload.plan(s).map(\.adapter)) == ["lt-adapter-0"])
        s.adapters.distribution = .uniform
        #expect(Set(Workload.plan(s).map(\.adapter)).count > 25)
        s.adapters.distribution = .skewed
        let skewed = Workload.plan(s).map(\.adapter)
        #expect(skewed.filter { $0 == "lt-adapter-0" }.count > skewed.filter { $0 == "lt-adapter-9" }.count * 5)
        s.adapters.distribution = .none
        #expect(Workload.plan(s).allSatisfy { $0.adapter == nil })
    }

    @Test func explicitNamesFollowTheirWeights() {
        var s = scenario(1000)
        s.adapters.distribution = .explicit
        s.adapters.names = ["x", "y"]
        s.adapters.weights = [3, 1]
        let x = Workload.plan(s).filter { $0.adapter == "x" }.count
        #expect((700...800).contains(x))
    }

    @Test func tenantsGetTheirShares() {
        var s = scenario(2000)
        s.tenants = [TenantSpec(name: "a", share: 0.5), TenantSpec(name: "b", share: 0.3), TenantSpec(name: "c", share: 0.2)]
        let counts = (0..<3).map { t in Workload.plan(s).filter { $0.tenant == t }.count }
        #expect(abs(Double(counts[0]) / 2000 - 0.5) < 0.03)
        #expect(abs(Double(counts[2]) / 2000 - 0.2) < 0.03)
    }

    @Test func datasetPromptsCycle() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lt-\(UUID()).jsonl").path
        try Data("{\"prompt\": \"hello there world\", \"output_len\": 5}\n\n{\"prompt\": [1, 2, 3, 4]}\n".utf8).write(to: URL(fileURLWithPath: path))
        let d = try DatasetEntry.load(path: path)
        #expect(d.count == 2)
        var s = scenario(3)
        s.random_output_len = 9
        let plan = Workload.plan(s, dataset: d)
        #expect(plan.map(\.prompt) == [.text("hello there world"), .tokens([1, 2, 3, 4]), .text("hello there world")])
        #expect(plan.map(\.outputLength) == [5, 9, 5])
        #expect(plan.map(\.inputLength) == [3, 4, 3])
    }

    @Test func badDatasetLinesAreNamed() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lt-\(UUID()).jsonl").path
        for (body, message) in [("{\"prompt\": \"ok\"}\n[1]\n", ":2: not a JSON object"), ("{\"prompt\": \"\"}\n", ":1: \"prompt\""),
                                ("{\"prompt\": \"a\", \"output_len\": -1}\n", "output_len"), ("\n", "no prompts")] {
            try Data(body.utf8).write(to: URL(fileURLWithPath: path))
            #expect { try DatasetEntry.load(path: path) } throws: { ($0 as? LoadTestError)?.message.contains(message) == true }
        }
        #expect { try DatasetEntry.load(path: "/nonexistent/x.jsonl") } throws: { $0 is LoadTestError }
    }
}
