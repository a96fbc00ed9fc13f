import Testing
import TesseraTokenizer

/// What transformers' `apply_chat_template` does to its arguments before jinja2 sees them.
@Suite struct ApplyChatTemplateTests {
    @Test func transformersDefaults() throws {
        let t = try ChatTemplate(
            "{% for m in messages %}{{ m.content is defined }} {{ m.reasoning_content }}|{% endfor %}"
                + "{{ tools is none }} {{ documents is none }} {{ add_generation_prompt }}")
        let messages = try JinjaValue(jsonText: #"[{"role": "assistant", "content": null, "thinking": "hmm"}, {"role": "user", "content": "Hi"}]"#)
        #expect(try t.applyChatTemplate(["messages": messages]) == "False hmm|True |True True False")
        let tools = try JinjaValue(jsonText: #"[{"type": "function", "function": {"name": "f"}}]"#)
        #expect(try t.applyChatTemplate(["messages": messages, "tools": tools, "add_generation_prompt": .bool(true)])
            == "False hmm|True |False True True")
    }
}
