"""Chat-template renderings by transformers' own `render_jinja_template` (jinja2 in its ImmutableSandboxedEnvironment
with trim_blocks, lstrip_blocks, loopcontrols, the `generation` tag, its `tojson`, `raise_exception`, `strftime_now`):
every real template of the corpus (llama.cpp's models/templates/*.jinja), the model's own template, and small feature
templates, each over a varied set of conversations. A case whose rendering raises records the error instead.

Usage: template_fixtures.py MODEL.gguf OUT.json [TEMPLATES_DIR]
  also writes templates-expressions.json beside OUT.json (random expressions, the differential test).
  TEMPLATES_DIR defaults to .bench/src/llama_cpp_python-*/vendor/llama.cpp/models/templates (tools/bench/setup-llama).

The output is self-contained (tests run without the corpus): the template sources once, by name; the contexts once
(exactly as transformers hands them to the template: after `_plain_template_data` and its reasoning-field aliasing);
then one row per (template, context) with the expected text or the error.
"""
import copy
import glob
import json
import os
import random
import re
import warnings
import re
import sys
from datetime import datetime

import jinja2
import transformers
from transformers.utils import chat_template_utils as ctu

# strftime_now reads datetime.now(); pin it so the fixtures do not change with the clock. Tessera's tests pass the
# same instant (local time) as `now`.
FIXED_NOW = datetime(2025, 3, 7, 14, 5, 9)


class _FixedDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


ctu.datetime = _FixedDatetime

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "The unit"},
                "days": {"type": "integer", "description": "Forecast days", "default": 1, "minimum": 1},
            },
            "required": ["location"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the documentation.\nReturns the best matches.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for"},
                "filters": {
                    "type": "object",
                    "description": "Optional filters",
                    "properties": {
                        "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags to match"},
                        "max_results": {"type": "number", "description": "At most this many", "default": 5.0},
                        "exact": {"type": "boolean"},
                    },
                    "required": ["tags"],
                },
                "mode": {"anyOf": [{"type": "string"}, {"type": "null"}], "nullable": True},
            },
            "required": ["query"],
        },
    },
}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]

SYS = {"role": "system", "content": "You are a helpful assistant. Answer briefly."}
U1 = {"role": "user", "content": "Hello! How are you?"}
A1 = {"role": "assistant", "content": "I'm fine, thanks. How can I help?"}
U2 = {"role": "user", "content": "What's the weather in Paris?"}

CALL_DICT = {"id": "call1ABCD", "type": "function",
             "function": {"name": "get_weather", "arguments": {"location": "Paris, France", "unit": "celsius"}}}
CALL_STR = {"id": "call2EFGH", "type": "function",
            "function": {"name": "search_docs",
                         "arguments": "{\"query\": \"weather API\", \"filters\": {\"tags\": [\"api\", \"v2\"], \"max_results\": 3}}"}}
CALL_DICT2 = {"id": "call3IJKL", "type": "function",
              "function": {"name": "get_weather", "arguments": {"location": "Tokyo", "days": 2}}}

# Each context: the keyword arguments of apply_chat_template (messages, tools, documents, add_generation_prompt,
# extra variables). bos_token/eos_token are added per template family.
CONTEXTS = [
    dict(messages=[U1], add_generation_prompt=True),
    dict(messages=[U1], add_generation_prompt=False),
    dict(messages=[SYS, U1], add_generation_prompt=True),
    dict(messages=[SYS, U1, A1, U2], add_generation_prompt=True),
    dict(messages=[U1, A1], add_generation_prompt=False),
    dict(messages=[SYS, U1, A1, U2, {"role": "assistant", "content": "It is sunny."}], add_generation_prompt=False),
    dict(messages=[SYS, U2], tools=TOOLS, add_generation_prompt=True),
    dict(messages=[U2], tools=TOOLS, add_generation_prompt=True),
    dict(messages=[SYS, U2, {"role": "assistant", "content": "", "tool_calls": [CALL_DICT]},
                   {"role": "tool", "tool_call_id": "call1ABCD", "name": "get_weather",
                    "content": "{\"temperature\": 18, \"condition\": \"sunny\"}"}],
         tools=TOOLS, add_generation_prompt=True),
    dict(messages=[U2, {"role": "assistant", "content": None, "tool_calls": [CALL_STR]},
                   {"role": "tool", "tool_call_id": "call2EFGH", "name": "search_docs", "content": "3 results found"},
                   {"role": "assistant", "content": "I found 3 results."}],
         tools=TOOLS, add_generation_prompt=False),
    dict(messages=[SYS, U2, {"role": "assistant", "content": "Let me check both.", "tool_calls": [CALL_DICT, CALL_DICT2]},
                   {"role": "tool", "tool_call_id": "call1ABCD", "content": "18C"},
                   {"role": "tool", "tool_call_id": "call3IJKL", "content": "22C"},
                   {"role": "assistant", "content": "Paris 18C, Tokyo 22C."}, {"role": "user", "content": "Thanks!"}],
         tools=TOOLS, add_generation_prompt=True),
    dict(messages=[U1, {"role": "assistant", "content": "The answer is 4.",
                        "reasoning_content": "The user asks something; 2+2=4."},
                   {"role": "user", "content": "And 3+3?"}], add_generation_prompt=True),
    dict(messages=[U1, {"role": "assistant", "content": "6", "reasoning_content": "3+3 is 6."}],
         add_generation_prompt=False, enable_thinking=True),
    dict(messages=[SYS, U1], add_generation_prompt=True, enable_thinking=False),
    dict(messages=[SYS, U1], add_generation_prompt=True, enable_thinking=True),
    dict(messages=[{"role": "user", "content": "Résumé: naïve café — 你好, мир! 🎉 \"quotes\" & <tags> 'single'\n\ttabbed  "},
                   {"role": "assistant", "content": "Ünïcödé ✓\n\nSecond paragraph."}, {"role": "user", "content": "   "}],
         add_generation_prompt=True),
    dict(messages=[U2], documents=[{"title": "Paris weather", "text": "Paris is sunny today."},
                                   {"title": "Tokyo", "text": "Rain expected."}], add_generation_prompt=True),
    dict(messages=[{"role": "system", "content": [{"type": "text", "text": "Be precise."}]},
                   {"role": "user", "content": [{"type": "text", "text": "Describe this."}, {"type": "text", "text": "Twice."}]},
                   {"role": "assistant", "content": [{"type": "text", "text": "It is a cat."}]}],
         add_generation_prompt=False),
    dict(messages=[U2], tools=TOOLS, add_generation_prompt=True, builtin_tools=["brave_search", "wolfram_alpha"],
         tools_in_user_message=False, date_string="26 Jul 2024"),
    dict(messages=[SYS, U2], tools=TOOLS, add_generation_prompt=True, tools_in_user_message=True,
         date_string="01 Jan 2025", enable_thinking=False, reasoning_effort="high"),
    dict(messages=[U1, {"role": "user", "content": "Are you there?"}], add_generation_prompt=True),
    dict(messages=[], add_generation_prompt=True),
    dict(messages=[{"role": "assistant", "content": "I start."}, U1], add_generation_prompt=True),
    dict(messages=[SYS, U1, A1, U2], tools=[], add_generation_prompt=True),
    dict(messages=[SYS, U2], tools=[WEATHER_TOOL], add_generation_prompt=True,
         functions=json.dumps([WEATHER_TOOL["function"]], indent=2), datetime="2025-03-07"),
    dict(messages=[U2, {"role": "assistant", "content": "Checking.", "tool_calls": [CALL_DICT]},
                   {"role": "tool", "tool_call_id": "call1ABCD", "name": "get_weather", "content": "sunny"},
                   {"role": "assistant", "content": "It is sunny in Paris."}],
         tools=[WEATHER_TOOL], add_generation_prompt=False,
         functions=json.dumps([WEATHER_TOOL["function"]]), datetime="2025-03-07"),
]

FAMILY_TOKENS = [
    (r"llama-3|Llama-3|firefunction|functionary|Hermes|DeepSeek-R1-Distill-Llama", "<|begin_of_text|>", "<|eot_id|>"),
    (r"gemma", "<bos>", "<eos>"),
    (r"[Mm]istral|Devstral|Ministral", "<s>", "</s>"),
    (r"deepseek|DeepSeek", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    (r"Qwen|QwQ|MiMo", "", "<|im_end|>"),
    (r"Phi-3", "<s>", "<|endoftext|>"),
    (r"granite", "<|start_of_role|>", "<|end_of_text|>"),
    (r"SmolLM", "", "<|im_end|>"),
    (r"Cohere|command-r", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    (r"Kimi", "[BOS]", "[EOS]"),
    (r"GLM", "[gMASK]<sop>", "<|endoftext|>"),
]


def family_tokens(name):
    for pattern, bos, eos in FAMILY_TOKENS:
        if re.search(pattern, name):
            return {"bos_token": bos, "eos_token": eos}
    return {"bos_token": "<s>", "eos_token": "</s>"}


# Small templates, one or a few constructs each: general jinja2 semantics beyond what the corpus happens to use.
FEATURES = [
    "{% for m in messages %}{{ loop.index }}/{{ loop.length }}{% if loop.first %}F{% elif loop.last %}L{% else %}M{% endif %} {% endfor %}",
    "{{ messages[0]['role'] ~ '|' ~ messages[0].content }}",
    "{{ messages[-1]['content'][:5] }}|{{ messages[-1]['content'][2:] }}|{{ messages[-1].content[1] }}|{{ messages[-1].content[::-2] }}|{{ messages[-1].content[1:-1:3] }}",
    "{% set n = 3 %}{{ n * 2 + 1 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ 1e100 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 10 ** 18 }} {{ 2 ** 62 }}",
    "{{ 'yes' if add_generation_prompt else 'no' }} {{ missing is defined }} {{ none is none }} {{ ('x' if false) }}|{{ missing }}|",
    "{{ '  padded  ' | trim }}|{{ 'Mixed' | upper }}|{{ ['a','b'] | join('-') }}|{{ 'x,y'.split(',') }}|{{ 'xxhixx'.strip('x') }}|{{ '  a b  c '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'a,b,c'.rsplit(',', 1) }}",
    "  {% if true %}\n    indented line\n  {% endif %}\nafter\n  {# comment #}\nx\n    {%+ if true %}plus{% endif %}\n{% if true +%}\nkept\n{% endif %}",
    "{%- if true -%}   stripped   {%- endif -%}   end {{- '  x  ' -}}  y  {#- c -#}  z",
    "{{ messages[0].content.startswith('Hi') }} {{ 'b' in 'abc' }} {{ 'z' not in ['x'] }} {{ 'abc'.endswith(('x', 'c')) }} {{ 1 in [1, 2] }} {{ 'role' in messages[0] }}",
    "{% for x in [3, 1, 2] | sort %}{{ x }}{% endfor %} {{ [3, 1, 2] | sort(reverse=true) | list }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ messages | map(attribute='role') | list }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('even') | list }}",
    "{{ [1, 2, 2, 3, 1] | unique | list }} {{ ['a', 'A', 'b'] | unique | list }} {{ [4, 2, 9] | min }} {{ [4, 2, 9] | max }} {{ [1.5, 2] | sum }} {{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ [1, 2, 3] | reverse | list }} {{ 'abc' | reverse }} {{ 'abc' | list }} {{ 'hello world foo' | wordcount }} {{ -3 | abs }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.7 | round(0, 'floor') }} {{ 3.2 | round(method='ceil') }}",
    "{{ {'b': 1, 'a': 2} | dictsort }} {{ {'b': 1, 'a': 2} | dictsort(reverse=true) }} {{ {'b': 1, 'a': 2} | items | list }} {% for k, v in {'x': 1, 'y': [1, 'two']}.items() %}{{ k }}={{ v }};{% endfor %} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b', 'dflt') }} {{ {'a': 1}.get('b') }} {{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }}",
    "{{ 'hello world' | title }} {{ 'hELLO' | capitalize }} {{ 'abc' | center(9) }}| {{ 'a\nb\nc' | indent(2) }}| {{ 'a\n\nb' | indent(2, true, true) }}| {{ 'a\nb' | indent('> ', first=true) }}| {{ 'a long sentence here' | truncate(9) }} {{ 'x' | replace('x', 'y') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ '%s and %d' | format('a', 3) }} {{ 42 | string }} {{ '42' | int + 1 }} {{ '4.5' | float }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.9 | int }} {{ '0x1A' | int(0, 16) }} {{ 5 | float }}",
    "{{ none | default('d') }} {{ missing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ missing | d('x') }} {{ false | default('f', boolean=true) }} {{ [] | length }} {{ 'abc' | count }} {{ {'a': 1} | length }} {{ [1, 2, 3, 4, 5] | batch(2) | list }} {{ [1, 2, 3, 4, 5] | slice(2) | list }}",
    "{{ {'a': [1, 2.5, none, true, 'x\"y'], 'b': {'c': 'ü'}} | tojson }} {{ {'a': [1, {'b': 2}], 'c': []} | tojson(indent=2) }} {{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }} {{ [1, 2] | tojson(separators=(',', ':')) }} {{ 'tab\there\nnl\\\\ \u0001' | tojson }} {{ 1.0 | tojson }} {{ 1e-7 | tojson }} {{ (1, 2) | tojson }} {{ {} | tojson(indent=2) }} {{ [] | tojson(indent=4) }}",
    "{{ 1 is odd }} {{ 2 is even }} {{ 9 is divisibleby 3 }} {{ 'a' is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ true is integer }} {{ true is number }} {{ true is boolean }} {{ none is boolean }} {{ {} is mapping }} {{ [] is sequence }} {{ 'x' is sequence }} {{ {} is iterable }} {{ 3 is iterable }} {{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 2 is in [1, 2] }} {{ 2 is eq 2 }} {{ 2 is ne 2 }} {{ 3 is gt 2 }} {{ 3 is ge 4 }} {{ 1 is lt 2 }} {{ 1 is le 0 }} {{ 'x' is equalto 'x' }} {{ none is sameas none }} {{ raise_exception is callable }} {{ 'x' is callable }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ missing is undefined }}",
    "{% set ns = namespace(count=0, items=[]) %}{% for m in messages %}{% set ns.count = ns.count + 1 %}{% set ns.items = ns.items + [m.role] %}{% set local = 'inner' %}{% endfor %}{{ ns.count }} {{ ns.items }} {{ local is defined }} {% set a, b = 1, 2 %}{{ a }}{{ b }} {% set t = (1, 'x') %}{{ t }} {{ t[1] }} {% set x %}block {{ a }}{% endset %}[{{ x }}] {% set y | upper %}shout{% endset %}{{ y }}",
    "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', punct='?') }} {{ greet(name='Cy') }} {% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inside{% endcall %} {% macro args() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ args(1, 2, k=3) }} {% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}",
    "{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %} {% for x in [] %}a{% else %}empty{% endfor %} {% for x in range(5) if x != 2 %}{{ x }}{{ loop.index }}{{ loop.last }};{% endfor %} {% for x in 'ab' %}{{ loop.previtem }}-{{ x }}-{{ loop.nextitem }}|{{ loop.cycle('o', 'e') }}|{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.index0 }}{{ loop.depth }}{% endfor %} {{ range(2, 10, 3) | list }} {{ range(5, 0, -2) | list }}",
    "{% for a in [[1, [2, 3]], [4, []]] recursive %}{{ loop.depth }}:{% if a is iterable %}({{ loop(a) }}){% else %}{{ a }}{% endif %},{% endfor %} {% for x, y in [(1, 2), [3, 4]] %}{{ x + y }}{% endfor %} {% for k in {'z': 1, 'a': 2} %}{{ k }}{% endfor %}",
    "{{ 'Hello %s, you are %d years and %.2f%%' % ('Ann', 30, 1.5) }} {{ '%5s|%-5s|%05d|%x|%r' % ('a', 'b', 42, 255, 'q') }} {{ '%(a)s-%(b)s' % {'a': 1, 'b': 2} }} {{ '{} and {}'.format(1, 'x') }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{name}!'.format(name='N') }} {{ '{:>5}|{:<4}|{:^6}|{:.3f}|{:05d}'.format('r', 'l', 'c', 3.14159, 42) }}",
    "{{ 'a' ~ 1 ~ none ~ true ~ 1.5 }} {{ 'ab' * 3 }} {{ [1] * 3 }} {{ [1, 2] + [3] }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ not 1 == 2 }} {{ -(3) }} {{ +3 }} {{ 1 and 'x' }} {{ 0 or '' or 'z' }} {{ none or 0 }} {{ 'a' if 0 else 'b' if 1 else 'c' }} {{ true + 1 }} {{ 10 - 2.5 }} {{ 5 // 0.5 }} {{ 2 ** 0.5 }}",
    "{{ 'Hello World'.lower() }} {{ 'hello'.upper() }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }} {{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '+', 1) }} {{ 'banana'.find('an') }} {{ 'banana'.rfind('an') }} {{ 'banana'.count('a') }} {{ 'banana'.index('n') }} {{ 'l1\nl2\r\nl3'.splitlines() }} {{ '123'.isdigit() }} {{ 'abc'.isalpha() }} {{ 'a1'.isalnum() }} {{ '  '.isspace() }} {{ 'Ab'.islower() }} {{ 'AB'.isupper() }} {{ 'x'.join(['1', '2']) }} {{ 'abc'.lstrip('a') }} {{ 'abc'.rstrip('c') }} {{ 'ab'.center(6, '*') }} {{ 'ab'.ljust(4, '.') }}| {{ 'ab'.rjust(4) }} {{ '7'.zfill(3) }} {{ 'Hello'.swapcase() }} {{ 'a b'.partition(' ') }} {{ 'pre_x'.removeprefix('pre_') }} {{ 'x.txt'.removesuffix('.txt') }} {{ 'Title Case'.istitle() }}",
    "{{ messages }} {{ messages[0] }} {{ [1.0, 1e-05, 1e16, 1e15, 123456789.123, -0.0, 1.5e-10, 100.0] }} {{ {'k': none, 'j': [true, false]} }} {{ ['it\\'s', \"q\\\"\", 'back\\\\slash', 'nl\\n'] }} {{ 'esc: \\t|\\x41|\\u00e9|\\101' }}",
    "{% filter upper %}shout {{ 'this' }}{% endfilter %} {% filter trim %}   spaced   {% endfilter %} {% raw %}{{ not rendered }}{% endraw %} {% set d = dict(a=1, b='two') %}{{ d }} {{ dict(d, c=3) }} {% generation %}gen {{ 1 }}{% endgeneration %} {{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %d %b %a %j %p %I %y') }}",
    "{{ [1, 2, 3] | map('string') | join(',') }} {{ ['a', 'b'] | map('upper') | list }} {{ messages | map(attribute='content') | map('length') | list }} {{ messages | rejectattr('role', 'equalto', 'system') | map(attribute='role') | list }} {{ messages | selectattr('content') | list | length }} {{ [{'n': 2}, {'n': 1}] | sort(attribute='n') }} {{ [{'n': 'b'}, {}] | map(attribute='n', default='z') | list }} {{ [none, 0, 1, 'a'] | select | list }} {{ [1, 2, 3] | select('gt', 1) | list }} {{ ['x', 'y'] | select('in', ['y']) | list }}",
    "{{ messages[0].content.split(' ')[0] }}{{ messages[0]['content'].upper() }}{{ (messages | last).role }}{{ messages[1:] | length }}{{ messages[5] is defined }}{{ messages[0].nonexistent is defined }}{{ messages[0].get('role') }}{{ messages.0.role }}",
    "{% if x is defined %}{{ x | from_json }}{% endif %}ok {{ 'x' if missing is not defined }}",
    "{{ raise_exception('Custom failure: ' ~ messages | length) }}",
    "{{ messages[0].content.foo.bar }}",
    "{% set l = [1] %}{% set _ = l.append(2) %}{{ l }}",
    "{{ 1 + 'a' }}",
    "{{ 10 / 0 }}",
    "{% for x in 5 %}{% endfor %}",
    "{{ missing_list[0] }}",
    "{% set a, b = [1, 2, 3] %}",
    "{{ namespace(_hidden=1) }}",
    "a  \n  {%- if true %}\n  b\n  {%+ endif %}  c\n{#- x #}\n\td {%- raw -%}  {{ x }}  {%- endraw -%}  e\n {% raw %}\n  {% if %}\n  {%- endraw %}x\n",
    "\t {% if true %}a{% endif %}\u3000{% if true %}b{% endif %}\n  {% if true %}\n\n  c\n  {%- endif %}\n{{ '\\n' }}\n{% for i in [1, 2] %}\n{{ i }}\n{% endfor %}\n\n",
    "line1\r\nline2\r{{ 'x' }}\r\n{%- set x = 'a' -%}\n\n{{- x -}}\n\n{# c #}\n{{ x }}\r\n",
    "{% for a, b in {'x': 1}.items() %}{{ a }}{{ b }}{% endfor %}{% for x in {'x': 1} | dictsort %}{{ x }}{% endfor %}{% for o in [1, 2] %}{% set outer = loop %}{% for i in 'ab' %}{{ outer.index }}{{ loop.index }}{{ i }}{% endfor %}{% endfor %}",
    "{{ 'a\\\nb' }}|{{ \"\\'\" }}|{{ '\\q' }}|{{ 'caf\\xe9' }}|{{ '\\U0001F600' }}|{{ 'a' 'b' \"c\" }}|{{ '\\\\n' }}",
    "{% macro m(x) %}[{{ caller(x * 2) }}]{% endmacro %}{% call(v) m(3) %}v={{ v }}{% endcall %} {{ (messages | selectattr('role', 'equalto', 'user') | first).content }} {{ [1, 2] | map('string') | list }} {{ {'a': 1} | items | list }} {{ {'a': 1}.items() | list }}",
    "{{ undefined_var | length }}|{{ undefined_var | list }}|{{ undefined_var | join(',') }}|{{ undefined_var | default('x') | upper }}|{% for x in undefined_var %}no{% endfor %}|{{ undefined_var == none }}|{{ undefined_var is none }}|{{ undefined_var | string }}|{{ undefined_var | trim }}|{{ undefined_var | first }}|{{ 'x' in undefined_var }}",
    "{{ none | string }}|{{ none | default('d') }}|{{ none | tojson }}|{{ none ~ '' }}|{{ none | upper }}|{{ tools | tojson }}|{{ documents }}|{{ none is none }}|{{ none == false }}",
    "{{ {'k': 'é😀\\u2028'} | tojson(ensure_ascii=true) }} {{ {'k': 'é😀'} | tojson }} {{ [1, [2, [3]]] | tojson(indent=1) }} {{ {'a': 1} | tojson(indent='\\t') }} {{ {'z': 1, 'a': {'y': 2, 'b': 3}} | tojson(sort_keys=true, indent=2) }}",
    "{{ 3.0 }} {{ 1e22 }} {{ 12345678901234567.0 }} {{ 0.00012 }} {{ 1.0e-4 }} {{ 2.5e-5 }} {{ -1.5 }} {{ 3 / 1 }} {{ 1e308 * 10 }} {{ -1e308 * 10 }} {{ 5e-324 }} {{ 1.7976931348623157e308 }} {{ 123456789012345.6 }} {{ 0.1 * 3 }} {{ 1_000 }} {{ 0x1F }} {{ 0b101 }} {{ 0o17 }} {{ 1_0.5e1_0 }}",
    "{{ 'ÉCOLE'.lower() }} {{ 'straße'.upper() }} {{ 'ǅemal' | lower }} {{ 'hello WORLD' | capitalize }} {{ \"they're bill's\" | title }} {{ \"they're bill's\".title() }} {{ 'a-b c(d' | title }} {{ 'x' ~ [1] }} {{ [1, 'a'] ~ '' }}",
    "{{ '%s|%5.1f|%-3d|%+d|%e|%g|%g|%05.1f|%.3s|%c|%o|%X|%#x|% d' % ('x', 3.14159, 7, 5, 12345.678, 0.00001, 1e20, 2.5, 'abcdef', 65, 8, 255, 255, 3) }} {{ '{:,}'.format(1234567) }} {{ '{!r}'.format('a') }} {{ '{0[a]}'.format({'a': 5}) }} {{ '{:>8.2f}|{:+d}|{:x}|{:08.3f}|{:^7}|{:*<5}|{:e}|{:%}|{:g}'.format(3.14159, 5, 255, -3.14159, 'mid', 'l', 1234.5, 0.25, 0.0001) }} {{ '{}'.format(1.0) }} {{ '{:.2}'.format(3.14159) }} {{ '{:5}|{:5}'.format(1, 'a') }}",
    "{% for x in [1, 1, 2, 3, 3] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %} {% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }} {% set j = joiner('|') %}{% for x in 'abc' %}{{ j() }}{{ x }}{% endfor %} {% set x = namespace() %}{% set x.a = 1 %}{{ x.a }}{{ x }} {% if true %}{% set top = 1 %}{% endif %}{{ top }} {{ messages | length is even }}",
    "{{ -1 | abs }} {{ not true and false }} {{ 1 if 2 > 1 }} {{ 'b' if none }}| {{ '  12  ' | int }} {{ '1_000' | int }} {{ '3.9' | int }} {{ '-0x10' | int(base=16) }} {{ true | int }} {{ none | int }} {{ 1e3 | int }} {{ 'inf' | float }} {{ 'abc' | float }} {{ '1e3' | float }} {{ 10 | round }} {{ 2.675 | round(2) }} {{ -0.5 | round }} {{ 1234.5 | round(-2) }} {{ 7 | float }}",
    "{{ 'abc'[5] }}|{{ [1, 2][1:] }}|{{ 'hello'[-3:] }}|{{ [1, 2, 3][-10:10] }}|{{ 'abc'[::-1] }}|{{ (1, 2, 3)[1] }}|{{ messages[0]['content'] | wordcount }}|{% for x in messages if x.role != 'system' %}{{ loop.index }}{{ x.role }}{% else %}none{% endfor %}|{{ 5 is divisibleby(2) }}{{ 'a' is in('abc') }}|{% set a = [1, 2] %}{% set b = a + [3] %}{{ a }}{{ b }}|{{ messages[0].role[0] | upper }}",
    "{%- macro fmt(v, depth=0) -%}{%- if v is mapping -%}{ {%- for k, x in v | dictsort -%}{{ k }}: {{ fmt(x, depth + 1) }}{{ ', ' if not loop.last }}{%- endfor -%} }{%- elif v is iterable and v is not string -%}[{{ v | map('string') | join('; ') }}]{%- else -%}{{ v }}{%- endif -%}{%- endmacro -%}{{ fmt({'b': [1, 2], 'a': {'c': none, 'd': 'x'}}) }} {{ fmt('s') }} {{ fmt.name }} {% set f = fmt %}{{ f(1) }}",
    "{% set s = 'Hello' %}{{ s | center(11) }}|{{ s | truncate(3, true, '') }}|{{ 'one two three four' | truncate(11) }}|{{ 'one two three four' | truncate(11, leeway=0) }}|{{ 'one two three four' | truncate(9, true) }}|{{ s | replace('l', 'L', 1) }}|{{ s | list | sort | join }}|{{ s | batch(2) | list }}|{{ ['b', 'B', 'a'] | unique | list }}|{{ ['b', 'B', 'a'] | unique(case_sensitive=true) | list }}|{{ ['b', 'B', 'a'] | max }}|{{ ['b', 'B', 'a'] | min(case_sensitive=true) }}",
    "{{ [3, 'a'] | sort }}",
    "{{ 'a' < 1 }}",
    "{{ none.attr }}ok{{ none.attr.deeper }}",
    "{{ {'a': 1}.pop('a') }}",
    "{% for x in range(3) %}{{ x }}{% endfor %}{{ raise_exception(none) }}",
]


# Random expressions over a few variables, each rendered alone: the differential test of Tessera's operators,
# filters, tests and methods against jinja2 (one case per template, `expressions` output file).
ATOMS = ["0", "1", "2", "7", "-3", "10", "2.5", "0.1", "1e-5", "-1.5", "3.0", "'a'", "'Hello World'", "'  x y  '", "'a,b,,c'",
         "''", "'é😀'", "'ABC'", "none", "true", "false", "[]", "[3, 1, 2]", "['b', 'A', 'c']", "{}", "{'b': 1, 'a': 2}",
         "(1, 'x')", "n", "s", "l", "d", "f", "x", "msgs", "msgs[0]", "msgs[0].content", "d.a", "l[1]", "s[1:]", "'%s-%d'",
         "'{}|{}'", "range(4)", "ns", "[1, [2, 'x'], {'k': none}]", "'Line1\\nLine2'", "'a\"b\\'c'"]
FILTERS = ["length", "count", "string", "upper", "lower", "capitalize", "title", "trim", "first", "last", "list", "sort",
           "reverse", "unique", "min", "max", "sum", "abs", "int", "float", "round", "join", "join(', ')", "tojson",
           "tojson(indent=2)", "default('D')", "default('D', true)", "d", "items", "dictsort", "map('string')",
           "map(attribute='a')", "select('odd')", "reject('none')", "selectattr('role')", "selectattr('role', 'equalto', 'user')",
           "rejectattr('content')", "replace('a', 'Z')", "center(9)", "indent(2)", "indent(2, true)", "wordcount",
           "truncate(5)", "batch(2)", "slice(2)", "safe", "e", "format(1, 2)", "list | length", "sort(reverse=true)",
           "round(1)", "int(5)", "float(1.5)", "string | length", "tojson(sort_keys=true)", "trim('a')", "first | string"]
TESTS = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence",
         "boolean", "true", "false", "odd", "even", "divisibleby 2", "lower", "upper", "callable", "in [1, 'a']",
         "equalto 1", "gt 1", "eq 'a'", "sameas none"]
METHODS = ["upper()", "lower()", "strip()", "split()", "split(',')", "split(',', 1)", "rsplit(',', 1)", "startswith('a')",
           "endswith(('c', 'd'))", "replace('a', 'b')", "find('l')", "count('l')", "title()", "capitalize()", "lstrip('a')",
           "splitlines()", "isdigit()", "isalpha()", "format(1, 'x')", "join(['1', '2'])",
           "get('a')", "get('z', 9)", "index(1)", "center(7, '*')", "zfill(5)", "partition(',')", "rstrip()"]
SEQUENCES = ["s", "l", "msgs", "msgs[0].content", "'Hello World'", "[3, 1, 2]", "(1, 'x')", "range(4)", "d"]
BIN = ["+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or"]

def expr(depth, random):
    r = random.random()
    if depth <= 0 or r < 0.25:
        return random.choice(ATOMS)
    if r < 0.45:
        return f"({expr(depth-1, random)} {random.choice(BIN)} {expr(depth-1, random)})"
    if r < 0.65:
        return f"({expr(depth-1, random)} | {random.choice(FILTERS)})"
    if r < 0.72:
        neg = random.choice(["", "not "])
        return f"({expr(depth-1, random)} is {neg}{random.choice(TESTS)})"
    if r < 0.82:
        return f"{random.choice(ATOMS)}.{random.choice(METHODS)}"
    if r < 0.88:
        return f"({expr(depth-1, random)} if {expr(depth-1, random)} else {expr(depth-1, random)})"
    if r < 0.93:
        return f"(not {expr(depth-1, random)})"
    if r < 0.97:
        return f"[{expr(depth-1, random)}, {expr(depth-1, random)}]"
    idx = random.choice(['0', '-1', '1:', '::-1', "'a'", '5', ':2', '1::2'])
    return f"{random.choice(SEQUENCES)}[{idx}]"

EXPRESSION_VARIABLES = {"n": 7, "s": "Abc", "l": [3, 1, 2], "d": {"b": 1, "a": 2}, "f": 2.5,
                        "msgs": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": ""}]}


def expression_cases(count, seed):
    rng = random.Random(seed)
    cases, seen = [], set()
    while len(cases) < count:
        template = "{% set ns = namespace(v=1) %}{{ " + expr(3, rng) + " }}"
        if template in seen:
            continue
        seen.add(template)
        try:
            # The variables are copied per case: jinja2's `indent` extends a list it is given in place.
            out = ctu._compile_jinja_template(template).render(**copy.deepcopy(EXPRESSION_VARIABLES))
            if re.search(r"0[xX][0-9a-fA-FZ]{6,}|[0-9.]j\b", out):
                continue  # a generator's repr (CPython prints its address) or a complex number
            cases.append({"template": template, "expected": out})
        except Exception as e:
            cases.append({"template": template, "error": {"type": type(e).__name__, "message": str(e)}})
    return cases


def render(template, context):
    """transformers' own rendering: (text, None) or (None, error)."""
    ctx = copy.deepcopy(context)
    messages = ctx.pop("messages")
    tools = ctx.pop("tools", None)
    documents = ctx.pop("documents", None)
    agp = ctx.pop("add_generation_prompt", False)
    try:
        rendered, _ = ctu.render_jinja_template(conversations=[messages], tools=tools, documents=documents,
                                                chat_template=template, add_generation_prompt=agp, **ctx)
        return rendered[0], None
    except jinja2.exceptions.TemplateSyntaxError as e:
        return None, {"type": type(e).__name__, "message": e.message or str(e), "at": "parse"}
    except Exception as e:  # the template's own raise_exception is TemplateError; the rest are jinja2/Python errors
        return None, {"type": type(e).__name__, "message": str(e)}


def template_variables(context):
    """The variables transformers hands the template for `context` (what Tessera's render is given)."""
    ctx = copy.deepcopy(context)
    messages = ctu._alias_reasoning_fields(ctu._plain_template_data(ctx.pop("messages")))
    variables = {"messages": messages, "tools": ctu._plain_template_data(ctx.pop("tools", None)),
                 "documents": ctu._plain_template_data(ctx.pop("documents", None)),
                 "add_generation_prompt": ctx.pop("add_generation_prompt", False)}
    variables.update(ctu._plain_template_data(ctx))
    return variables


def main():
    model, out = sys.argv[1], sys.argv[2]
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    if len(sys.argv) > 3:
        templates_dir = sys.argv[3]
    else:
        found = sorted(glob.glob(os.path.join(root, ".bench/src/llama_cpp_python-*/vendor/llama.cpp/models/templates")))
        if not found:
            sys.exit("no template corpus: run tools/bench/setup-llama or pass TEMPLATES_DIR")
        templates_dir = found[-1]

    templates = {}
    for path in sorted(glob.glob(os.path.join(templates_dir, "*.jinja"))):
        with open(path, encoding="utf-8") as f:
            templates[os.path.basename(path)[: -len(".jinja")]] = f.read()
    # The given model's own template, and those of the other GGUF files beside it (Gemma 3 270M once fetched).
    import gguf
    for path in [model] + sorted(p for p in glob.glob(os.path.join(os.path.dirname(model), "*.gguf")) if p != model):
        field = gguf.GGUFReader(path).fields.get("tokenizer.chat_template")
        if field is None:
            continue
        text = bytes(field.parts[field.data[0]]).decode("utf-8")
        if text not in templates.values():
            templates["model:" + os.path.basename(path)] = text

    contexts = []
    cases = []
    for name, source in templates.items():
        for context in CONTEXTS:
            context = {**context, **family_tokens(name)}
            text, error = render(source, context)
            contexts.append(template_variables(context))
            row = {"template": name, "context": len(contexts) - 1}
            row.update({"expected": text} if error is None else {"error": error})
            cases.append(row)
    feature_context = {**CONTEXTS[3], "bos_token": "<s>", "eos_token": "</s>"}
    contexts.append(template_variables(feature_context))
    for i, source in enumerate(FEATURES):
        name = f"feature-{i:02d}"
        templates[name] = source
        text, error = render(source, feature_context)
        row = {"template": name, "context": len(contexts) - 1}
        row.update({"expected": text} if error is None else {"error": error})
        cases.append(row)

    # Contexts repeat across templates (only bos/eos differ): store each distinct one once.
    distinct, index = [], {}
    for row in cases:
        key = json.dumps(contexts[row["context"]], ensure_ascii=False)
        if key not in index:
            index[key] = len(distinct)
            distinct.append(contexts[row["context"]])
        row["context"] = index[key]

    fixture = {
        "generator": f"transformers {transformers.__version__}, jinja2 {jinja2.__version__}",
        "now": FIXED_NOW.isoformat(),
        "templates": templates,
        "contexts": distinct,
        "cases": cases,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=0)
        f.write("\n")
    failures = sum(1 for c in cases if "error" in c)
    print(f"wrote {len(cases)} renderings of {len(templates)} templates ({failures} raise) to {out}")

    warnings.simplefilter("ignore")  # CPython warns about constant subscripts in the compiled templates
    expressions = expression_cases(3000, seed=1)
    out_expressions = os.path.join(os.path.dirname(out), "templates-expressions.json")
    with open(out_expressions, "w", encoding="utf-8") as f:
        json.dump({"variables": EXPRESSION_VARIABLES, "cases": expressions}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"wrote {len(expressions)} expression renderings to {out_expressions}")


if __name__ == "__main__":
    main()
