"""Random texts that stress byte-level BPE pre-tokenizers: every plane, combining marks, CJK, Hangul, emoji ZWJ
sequences, whitespace of every kind, digits of other scripts, contractions in any case, punctuation and code.
Deterministic for a seed. Dev-only (fixture makers and differential fuzzing)."""
import random

WHITESPACE = [" ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u2029",
              "\u0085", "\u000b", "\u000c", "\u1680", "\u2000", "\u2007", "\u200a", "\u200b", "\u202f", "\u205f",
              "\u180e", "\ufeff", "\x1c", "\x1d", "\x1e", "\x1f", " \n", "\n ", " \t ", "\t\n", " \r\n "]
WORDS = ["hello", "World", "HELLO", "the", "a", "I", "don't", "DON'T", "it's", "IT'S", "we're", "We'Re", "they've",
         "you'll", "YOU'LL", "I'd", "I'M", "'s", "'S", "'ll", "'t", "'re", "'ve", "'d", "'m", "''", "'", "'x", "O'Neil",
         "rock'n'roll", "naïve", "café", "Ångström", "straße", "ǅemal", "ǈ", "İstanbul", "ﬁne", "Ⅻ", "µs",
         "Привет", "мир", "Ελληνικά", "שלום", "مرحبا", "नमस्ते", "हिन्दी", "ไทย", "ภาษาไทย", "日本語", "中文", "汉字",
         "漢字", "ひらがな", "カタカナ", "ｶﾀｶﾅ", "한국어", "안녕하세요", "ᄀᄁ", "ㄱㄴ", "ㄅㄆ", "𠀀𠀁", "𪜀", "龥", "鿿",
         "ࠀ", "Ω", "K", "Å", "ℌ", "ℵ", "ǰ", "ʰ", "ˆ", "ᵃ", "ꞏ", "ꭰ", "𐐀𐐨", "𞤀", "Ⰰⰰ", "ǅ", "Ǆ"]
NUMBERS = ["0", "1", "12", "123", "1234", "12345", "123456", "1234567", "3.14", "1,000", "1e10", "0x1F", "٠١٢٣",
           "۴۵۶", "०१२", "০১২", "๑๒๓", "０１２３", "²", "³¹", "½", "¼", "Ⅷ", "ⅻ", "①②", "𝟘𝟙", "𑁦", "᠐", "〇", "十"]
PUNCT = [".", ",", "!", "?", ";", ":", "...", "…", "—", "–", "-", "_", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\",
         "|", "@", "#", "$", "%", "^", "&", "*", "+", "=", "~", "`", '"', "'", "“", "”", "‘", "’", "«", "»", "！", "，",
         "。", "、", "：", "；", "？", "（", "）", "「", "」", "『", "』", "【", "】", "〜", "・", "।", "۔", "،", "¿", "¡",
         "§", "¶", "©", "®", "™", "°", "±", "×", "÷", "€", "£", "¥", "₹", "→", "⇒", "∀", "∑", "√", "∞", "≠", "≤",
         "♥", "★", "✓", "☃", "︰", "﹏", "･", "ﾟ", "::", "->", "=>", "!=", "==", "&&", "||", "//", "/*", "*/", "#!",
         "<|", "|>", "</s>", "<s>", "[INST]", "<sentinel:12>", "<sentinel:x>", "IMGIMGABCZ", "IMGIMGABCDEZ", "IMGIMGJZ"]
EMOJI = ["😀", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "❤️", "☺︎", "🤖", "🧑🏿‍💻", "👩‍❤️‍💋‍👨", "🦀",
         "1️⃣", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "✌🏻", "🫠"]
MARKS = ["\u0300", "\u0301", "\u0308", "\u0327", "\u036f", "\u0483", "\u0591", "\u064b", "\u093f", "\u094d", "\u0e31",
         "\u0e48", "\u1ab0", "\u1dc0", "\u20d0", "\u20e3", "\ufe0f", "\ufe0e", "\u200d", "\u200c", "\u3099", "\u309a",
         "\U000e0100", "\U000e0041"]
CODE = ["def f(x):\n    return x+1\n", "if (a && b) { c++; }", "for i in range(10):\n\tprint(i)", "x = {'a': 1}",
        "#include <stdio.h>\n", "SELECT * FROM t WHERE id=1;", "fn main() -> i32 {}", "    ", "\t\t", "\n\n\n",
        "<div class=\"x\">", "a_b_c", "__init__", "camelCaseWord", "snake_case_word", "HTTPServer", "x86_64",
        "1+2=3", "$HOME/.config", "C:\\Users\\x", "https://example.com/a?b=c&d=e#f", "user@example.com"]


def random_codepoint(rng):
    plane = rng.choice([0, 0, 0, 0, 1, 2, 3, 14, 15, 16])
    while True:
        c = rng.randrange(plane * 0x10000, plane * 0x10000 + 0x10000) if plane else rng.randrange(0x20, 0x10000)
        if not (0xD800 <= c < 0xE000):
            return chr(c)


def random_text(rng, max_parts=12):
    parts = []
    for _ in range(rng.randint(1, max_parts)):
        k = rng.random()
        if k < 0.25:
            parts.append(rng.choice(WORDS))
        elif k < 0.4:
            parts.append(rng.choice(WHITESPACE))
        elif k < 0.5:
            parts.append(rng.choice(NUMBERS))
        elif k < 0.6:
            parts.append(rng.choice(PUNCT))
        elif k < 0.66:
            parts.append(rng.choice(EMOJI))
        elif k < 0.72:
            parts.append(rng.choice(WORDS) + rng.choice(MARKS) * rng.randint(1, 3))
        elif k < 0.77:
            parts.append(rng.choice(MARKS))
        elif k < 0.82:
            parts.append(rng.choice(CODE))
        elif k < 0.9:
            parts.append("".join(random_codepoint(rng) for _ in range(rng.randint(1, 4))))
        elif k < 0.95:
            parts.append(rng.choice(" \t\n\u3000\u00a0a1.") * rng.randint(2, 40))
        else:
            parts.append(chr(rng.randrange(0, 0x80)) * rng.randint(1, 3))
    sep = rng.choice(["", " ", " ", "\n", ""])
    return sep.join(parts)


def corpus(seed, n):
    rng = random.Random(seed)
    return [random_text(rng) for _ in range(n)]
