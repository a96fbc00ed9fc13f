"""Chat-template renderings by jinja2 with transformers' settings (trim_blocks, lstrip_blocks): the model's own
template on several conversations, and small templates that exercise each construct of Tessera's Jinja subset.

Usage: template_fixtures.py MODEL.gguf OUT.json
"""
import json
import sys

import gguf
import jinja2

reader = gguf.GGUFReader(sys.argv[1])
field = reader.fields["tokenizer.chat_template"]
model_template = bytes(field.parts[field.data[0]]).decode("utf-8")

CONVERSATIONS = [
    [{"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Tell me a joke"}, {"role": "assistant", "content": "Why did the chicken...?"},
     {"role": "user", "content": "Go on  \n with it"}],
    [{"role": "user", "content": "Unicode: héllo 你好 🎉"}],
]

FEATURES = [
    "{% for m in messages %}{{ loop.index }}/{{ loop.length }}{% if loop.first %}F{% elif loop.last %}L{% else %}M{% endif %} {% endfor %}",
    "{{ messages[0]['role'] ~ '|' ~ messages[0].content }}",
    "{{ messages[-1]['content'][:5] }}|{{ messages[-1]['content'][2:] }}|{{ messages[-1].content[1] }}",
    "{% if messages|length > 1 and messages[0].role == 'system' %}sys{% else %}nosys{% endif %}",
    "{% set n = 3 %}{{ n * 2 + 1 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 'a' + 'b' }} {{ not true }} {{ 2 >= 2 }}",
    "{{ 'yes' if add_generation_prompt else 'no' }} {{ missing is defined }} {{ none is none }}",
    "{{ '  padded  ' | trim }}|{{ 'Mixed' | upper }}|{{ ['a','b'] | join('-') }}|{{ 'x,y'.split(',') }}",
    "  {% if true %}\n    indented line\n  {% endif %}\nafter",
    "{%- if true -%}   stripped   {%- endif -%}   end",
    "{% for role in ['a', 'b'] %}{{ role }}{% if not loop.last %}, {% endif %}{% endfor %}",
    "{{ messages[0].content.startswith('Hi') }} {{ 'b' in 'abc' }} {{ 'z' not in ['x'] }}",
]

env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
cases = []
for conv in CONVERSATIONS:
    for agp in (True, False):
        ctx = {"messages": conv, "add_generation_prompt": agp}
        cases.append({"template": model_template, "messages": conv, "add_generation_prompt": agp,
                      "expected": env.from_string(model_template).render(**ctx)})
for t in FEATURES:
    for conv in CONVERSATIONS[1:3]:
        ctx = {"messages": conv, "add_generation_prompt": True}
        cases.append({"template": t, "messages": conv, "add_generation_prompt": True,
                      "expected": env.from_string(t).render(**ctx)})
with open(sys.argv[2], "w", encoding="utf-8") as f:
    json.dump(cases, f, ensure_ascii=False, indent=0)
print(f"wrote {len(cases)} renderings")
