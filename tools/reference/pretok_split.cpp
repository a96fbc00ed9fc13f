// Dev-only reference for the pre-tokenizer fixtures: runs llama.cpp's own unicode_regex_split (compiled from the
// vendored src/unicode.cpp by pretokenizer_fixtures.py) on requests read from stdin.
// Request: u32 count of regexes, each (u32 length, bytes); u32 byte_encode; u32 text length, bytes.
// Reply: u32 count of pieces, each (u32 length, bytes); a count of 0xFFFFFFFF when llama.cpp threw.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "unicode.h"

static bool read_u32(uint32_t & v) { return fread(&v, 4, 1, stdin) == 1; }
static bool read_str(std::string & s) {
    uint32_t n;
    if (!read_u32(n)) return false;
    s.resize(n);
    return n == 0 || fread(&s[0], 1, n, stdin) == n;
}
static void write_u32(uint32_t v) { fwrite(&v, 4, 1, stdout); }

int main() {
    for (;;) {
        uint32_t n_regex;
        if (!read_u32(n_regex)) return 0;
        std::vector<std::string> regexes(n_regex);
        for (auto & r : regexes) if (!read_str(r)) return 1;
        uint32_t byte_encode;
        std::string text;
        if (!read_u32(byte_encode) || !read_str(text)) return 1;
        try {
            const auto pieces = unicode_regex_split(text, regexes, byte_encode != 0);
            write_u32((uint32_t) pieces.size());
            for (const auto & p : pieces) {
                write_u32((uint32_t) p.size());
                fwrite(p.data(), 1, p.size(), stdout);
            }
        } catch (const std::exception &) {
            write_u32(0xFFFFFFFFu);
        }
        fflush(stdout);
    }
}
