"""A varied text corpus for tokenizer parity: hand-picked hard cases plus seeded random mixtures."""
import random

HAND = [
    "", " ", "  ", "\n", "\n\n", "\t", " \t \n ", "Hello world", "Hello, world!", "hello   world", "  leading", "trailing  ",
    "it's", "It'S", "don't won't can't", "we're they've I'm you'll he'd", "'s 't 're", "rock'n'roll", "''quoted''",
    "7", " 7", "  7", "   77", "a  7", "x\t7", "3.14159", "1,000,000", "2024-11-29", "v1.2.3-beta", "0x1F", "1e-5",
    "12345678901234567890", "phone: +1 (555) 123-4567", "½ ¾ ² ³ ⅷ", "٣٤٥ ١٢", "१२३", "Ⅻ ⅻ", "①②③",
    "def f(x):\n    return x * 2\n", "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
    "if x == None and not y:\n        pass", "SELECT * FROM users WHERE id = 42;", "<div class=\"a\">hi</div>",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}", "https://example.com/path?q=1&r=two#frag", "user@example.org",
    "print('hello')  # comment", "    indented\n        more\n", "a\r\nb\r\n", "tabs\t\tand\t spaces",
    "😀", "😀😃😄", "👨‍👩‍👧‍👦 family", "🇫🇷🇩🇪", "I ❤️ Swift", "emoji🎉in🎉text", "✅ done ❌ failed",
    "你好世界", "日本語のテキスト", "한국어 텍스트", "中文, English, 123 混合", "東京は2024年に",
    "Tiếng Việt có dấu: Xin chào, tôi là người Việt Nam.", "Đường phố Hà Nội", "ngữ điệu, nghiêng",
    "Привет, мир!", "Ελληνικά γράμματα", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีครับ",
    "Ünïcödé àccénts ñ ç ø å ß", "ﬁ ligature ﬀ", "ＦＵＬＬ ｗｉｄｔｈ １２３", "zero\u200bwidth", "nbsp\u00a0here",
    "e\u0301 combining", "\u3000ideographic space", "line\u2028separator", "soft\u00adhyphen",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", "<|im_start|><|im_end|>", "<|endoftext|>",
    "text<|im_end|>text", "<|im_start|> spaced <|im_end|>", "<|im_start", "im_start|>", "<|unknown|>",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
    "!!!???...", "---===+++", "a-b_c.d", "$$$ 100%", "#hashtag @mention", "(parenthesis) [brackets] {braces}",
    "   \n   \n", "a\n\n\nb", "word\n  word", "...\n", "end.", "CamelCaseIdentifier", "snake_case_identifier",
    "ALLCAPS TEXT", "MiXeD CaSe", "x" * 50, " " * 33 + "x", "ab" * 40, "9" * 30, "\u00e9" * 20,
]

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Swift", "tensor", "naïve", "café",
         "北京", "データ", "việt", "Москва", "🚀", "λ", "42", "3.5", "x_1", "don't", "<|im_start|>", "\n", "  ", "\t"]
SEPS = [" ", "  ", "", "\n", ", ", ". ", " - ", "\t", "   "]


def corpus():
    rng = random.Random(20261129)
    texts = list(HAND)
    for _ in range(160):
        n = rng.randint(1, 12)
        texts.append("".join(rng.choice(WORDS) + rng.choice(SEPS) for _ in range(n)))
    for _ in range(40):  # random code points from several scripts and symbol blocks
        n = rng.randint(1, 16)
        blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x4e00, 0x4fff), (0x1f300, 0x1f64f),
                  (0x2000, 0x206f), (0x3040, 0x30ff), (0xe00, 0xe7f), (0x660, 0x669)]
        s = ""
        for _ in range(n):
            lo, hi = rng.choice(blocks)
            s += chr(rng.randint(lo, hi))
        texts.append(s)
    return texts
