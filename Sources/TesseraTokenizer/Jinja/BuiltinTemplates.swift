/// Chat templates for files that carry none (`tokenizer.chat_template` missing), by architecture: some published
/// conversions dropped it (the Gemma 3 270M file on PyPI has none), and a chat server should still speak the
/// family's turn format rather than refuse or guess ChatML.
enum BuiltinTemplates {
    static func source(architecture: String?) -> String? {
        switch architecture {
        case "gemma3": gemma3
        default: nil
        }
    }

    /// Gemma's turns: `<start_of_turn>user|model\n … <end_of_turn>\n`; a system message has no turn of its own and
    /// opens the first user turn; roles must alternate; text parts of list content are joined.
    static let gemma3 = """
    {{- bos_token -}}
    {%- set ns = namespace(prefix='') -%}
    {%- set turns = messages -%}
    {%- if messages and messages[0]['role'] == 'system' -%}
        {%- set system = messages[0]['content'] -%}
        {%- if system is string -%}
            {%- set ns.prefix = system + '\\n\\n' -%}
        {%- else -%}
            {%- set ns.prefix = (system | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('')) + '\\n\\n' -%}
        {%- endif -%}
        {%- set turns = messages[1:] -%}
    {%- endif -%}
    {%- for message in turns -%}
        {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
            {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}
        {%- endif -%}
        {{- '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' -}}
        {%- if loop.first -%}{{- ns.prefix -}}{%- endif -%}
        {%- if message['content'] is string -%}
            {{- message['content'] | trim -}}
        {%- else -%}
            {%- for part in message['content'] if part['type'] == 'text' -%}{{- part['text'] | trim -}}{%- endfor -%}
        {%- endif -%}
        {{- '<end_of_turn>\\n' -}}
    {%- endfor -%}
    {%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}
    """
}
