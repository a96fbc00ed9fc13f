import Foundation

/// Python's numbers: int and float arithmetic as CPython does it (floor division and modulo round toward negative
/// infinity, true division gives a float, float repr is the shortest round-trip form). Python ints never overflow;
/// ours are 64-bit, so an overflow is an error instead of a trap.
enum JinjaNumber {
    enum Num {
        case int(Int)
        case double(Double)

        var double: Double {
            switch self { case .int(let i): Double(i); case .double(let d): d }
        }
    }

    static func equal(_ a: Num, _ b: Num) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): x == y
        default: a.double == b.double
        }
    }

    /// -1, 0, 1 (nil when unordered: NaN).
    static func compare(_ a: Num, _ b: Num) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : x > y ? 1 : 0
        default:
            let x = a.double, y = b.double
            if x.isNaN || y.isNaN { return nil }
            return x < y ? -1 : x > y ? 1 : 0
        }
    }

    static func overflow(_ op: String) -> TokenizerError {
        TokenizerError("chat template: integer overflow in '\(op)' (Tessera's integers are 64-bit)")
    }

    static func add(_ a: Num, _ b: Num) throws(TokenizerError) -> Num {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, o) = x.addingReportingOverflow(y)
            if o { throw overflow("+") }
            return .int(r)
        }
        return .double(a.double + b.double)
    }

    static func subtract(_ a: Num, _ b: Num) throws(TokenizerError) -> Num {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, o) = x.subtractingReportingOverflow(y)
            if o { throw overflow("-") }
            return .int(r)
        }
        return .double(a.double - b.double)
    }

    static func multiply(_ a: Num, _ b: Num) throws(TokenizerError) -> Num {
        if case .int(let x) = a, case .int(let y) = b {
            let (r, o) = x.multipliedReportingOverflow(by: y)
            if o { throw overflow("*") }
            return .int(r)
        }
        return .double(a.double * b.double)
    }

    static let zeroDivision = TokenizerError("chat template: division by zero")

    static func trueDivide(_ a: Num, _ b: Num) throws(TokenizerError) -> Num {
        if b.double == 0 { throw zeroDivision }
        return .double(a.double / b.double)
    }

    static func floorDivide(_ a: Num, _ b: Num) throws(TokenizerError) -> Num {
        if case .int(let x) = a, case .int(let y) = b {
            if y == 0 { throw zeroDivision }
            if x == .min && y == -1 { throw overflow("//") }
            let q = x / y
            return .int((x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q)
        }
        return .double(try floatDivMod(a.double, b.double).div)
    }

    static func modulo(_ a: Num, _ b: Num) throws(TokenizerError) -> Num {
        if case .int(let x) = a, case .int(let y) = b {
            if y == 0 { throw zeroDivision }
            if y == -1 { return .int(0) }
            let m = x % y
            return .int((m != 0 && ((m < 0) != (y < 0))) ? m + y : m)
        }
        return .double(try floatDivMod(a.double, b.double).mod)
    }

    /// CPython's float_divmod.
    static func floatDivMod(_ vx: Double, _ wx: Double) throws(TokenizerError) -> (div: Double, mod: Double) {
        if wx == 0 { throw zeroDivision }
        var mod = fmod(vx, wx)
        var div = (vx - mod) / wx
        if mod != 0 {
            if (wx < 0) != (mod < 0) {
                mod += wx
                div -= 1
            }
        } else {
            mod = copysign(0, wx)
        }
        var floordiv: Double
        if div != 0 {
            floordiv = floor(div)
            if div - floordiv > 0.5 { floordiv += 1 }
        } else {
            floordiv = copysign(0, vx / wx)
        }
        return (floordiv, mod)
    }

    static func power(_ a: Num, _ b: Num) throws(TokenizerError) -> Num {
        if case .int(var base) = a, case .int(var exp) = b {
            if exp < 0 {
                if base == 0 { throw TokenizerError("chat template: 0.0 cannot be raised to a negative power") }
                return .double(pow(Double(base), Double(exp)))
            }
            var result = 1
            while exp > 0 {
                if exp & 1 == 1 {
                    let (r, o) = result.multipliedReportingOverflow(by: base)
                    if o { throw overflow("**") }
                    result = r
                }
                exp >>= 1
                if exp > 0 {
                    let (sq, o) = base.multipliedReportingOverflow(by: base)
                    if o { throw overflow("**") }
                    base = sq
                }
            }
            return .int(result)
        }
        let x = a.double, y = b.double
        if x == 0 && y < 0 { throw TokenizerError("chat template: 0.0 cannot be raised to a negative power") }
        if x < 0 && y != y.rounded() { throw TokenizerError("chat template: a negative number to a fractional power is complex") }
        let r = pow(x, y)
        if r.isInfinite && x.isFinite && y.isFinite { throw TokenizerError("chat template: numerical result out of range") }
        return .double(r)
    }

    /// Python's repr() of a float: shortest round-trip digits, scientific below 1e-4 and from 1e16.
    static func repr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        let (negative, digits, exponent) = shortestDigits(d)
        var out = negative ? "-" : ""
        let n = digits.count
        if exponent < -4 || exponent >= 16 {
            out.append(digits[digits.startIndex])
            if n > 1 {
                out += "."
                out += digits.dropFirst()
            }
            out += exponent < 0 ? "e-" : "e+"
            let e = abs(exponent)
            if e < 10 { out += "0" }
            out += String(e)
        } else if exponent >= 0 {
            if n <= exponent + 1 {
                out += digits
                out += String(repeating: "0", count: exponent + 1 - n)
                out += ".0"
            } else {
                out += digits.prefix(exponent + 1)
                out += "."
                out += digits.dropFirst(exponent + 1)
            }
        } else {
            out += "0."
            out += String(repeating: "0", count: -exponent - 1)
            out += digits
        }
        return out
    }

    /// Sign, significant digits (no leading or trailing zeros) and the decimal exponent of the first digit, from
    /// Swift's shortest round-trip description.
    static func shortestDigits(_ d: Double) -> (Bool, String, Int) {
        let text = Swift.abs(d).description
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        var intPart = mantissa
        var fracPart: Substring = ""
        if let dot = mantissa.firstIndex(of: ".") {
            intPart = mantissa[..<dot]
            fracPart = mantissa[mantissa.index(after: dot)...]
        }
        var all = String(intPart) + fracPart
        var pointAfter = intPart.count + exponent  // digits before the decimal point
        while all.hasPrefix("0") && all.count > 1 {
            all.removeFirst()
            pointAfter -= 1
        }
        while all.hasSuffix("0") && all.count > 1 { all.removeLast() }
        return (d < 0, all, pointAfter - 1)
    }
}

extension JinjaValue {
    /// The number inside (bool counts as int, as in Python), else nil.
    var numeric: JinjaNumber.Num? {
        switch self {
        case .int(let i): .int(i)
        case .double(let d): .double(d)
        case .bool(let b): .int(b ? 1 : 0)
        default: nil
        }
    }

    init(_ n: JinjaNumber.Num) {
        switch n {
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        }
    }
}
