import Testing
import TesseraEngine

@Suite struct StopMatcherTests {
    @Test func stopsBeforeTheStopStringAcrossPieces() {
        var m = StopMatcher(stops: ["END"])
        #expect(m.append("hello E") == ("hello ", false))
        #expect(m.append("N") == ("", false))
        #expect(m.append("Dtrailing") == ("", true))
    }

    @Test func releasesHeldTextThatTurnsOutHarmless() {
        var m = StopMatcher(stops: ["END"])
        #expect(m.append("E") == ("", false))
        #expect(m.append("x") == ("Ex", false))
        #expect(m.append("EN") == ("", false))
        #expect(m.flush() == "EN")
    }

    @Test func earliestOfSeveralStopsWins() {
        var m = StopMatcher(stops: ["cat", "dog"])
        #expect(m.append("a dog and a cat") == ("a ", true))
    }

    @Test func noStopsPassesEverythingThrough() {
        var m = StopMatcher(stops: [])
        #expect(m.append("anything") == ("anything", false))
    }
}
