import Foundation
import Testing
import TesseraTestSupport
import TesseraTokenizer

/// Renderings must equal jinja2's with transformers' settings (fixtures by tools/reference/template_fixtures.py).
@Suite struct ChatTemplateTests {
    struct Message: Decodable {
        let role: String
        let content: String
    }

    struct Case: Decodable {
        let template: String
        let messages: [Message]
        let add_generation_prompt: Bool
        let expected: String
    }

    static let cases = try! JSONDecoder().decode([Case].self, from: Data(contentsOf: Bundle.module.url(
        forResource: "templates", withExtension: "json", subdirectory: "Fixtures")!))

    @Test func rendersLikeJinja2() throws {
        #expect(Self.cases.count >= 20)
        for c in Self.cases {
            let t = try ChatTemplate(c.template)
            let got = try t.render(messages: c.messages.map { ($0.role, $0.content) }, addGenerationPrompt: c.add_generation_prompt)
            #expect(got == c.expected, "template \(String(reflecting: c.template.prefix(60)))")
        }
    }

    @Test func theModelsOwnTemplateIsCovered() throws {
        let tokenizer = try Tokenizer(gguf: TestModel.gguf)
        #expect(Self.cases.contains { $0.template == tokenizer.chatTemplate })
    }

    @Test func unsupportedConstructsAreClearErrors() {
        let bad: [(String, String)] = [
            ("{% macro m() %}{% endmacro %}", "'macro' statement is not supported"),
            ("{{ x", "unclosed tag"),
            ("{% if true %}never closed", "missing {% elif or else or endif %}"),
            ("{{ 'a' | shout }}", "filter 'shout' is not supported"),
            ("{{ 'a' @ 'b' }}", "unexpected character '@'"),
            ("{{ raise_exception('no system role') }}", "chat template raised: no system role"),
            ("{{ 1 + 'a' }}", "cannot apply '+'"),
        ]
        for (source, message) in bad {
            do {
                _ = try ChatTemplate(source).render(messages: [], addGenerationPrompt: false)
                Issue.record("\(source) rendered without error")
            } catch {
                #expect(error.message.contains(message), "\(source): \(error.message)")
            }
        }
    }
}
