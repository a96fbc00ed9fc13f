/// `a.b`, `a[b]` and `a[i:j:k]` as jinja2's sandbox resolves them: `.name` tries the Python attribute first (so
/// `d.items` is the method even when the dict has an "items" key) then the item; `[key]` tries the item first then
/// the attribute; a miss is undefined, never an error; mutating methods of lists and dicts are unsafe.
enum JinjaAccess {
    static func attribute(_ base: JinjaValue, _ name: String, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        if JinjaMethods.has(base, name) { return .object(JinjaBoundMethod(base, name)) }
        if case .object(let o) = base { return try o.attribute(name, r) ?? .undefined }
        return base.lookup(name) ?? .undefined
    }

    static func item(_ base: JinjaValue, _ index: JinjaValue, _ r: JinjaRenderer) throws(TokenizerError) -> JinjaValue {
        switch (base, index) {
        case (.dict(let d), _):
            if let k = JinjaKey.encode(index), let v = d.first(where: { $0.0 == k })?.1 { return v }
        case (.array(let a), _), (.tuple(let a), _):
            if let i = intIndex(index) { return element(a, i) ?? .undefined }
        case (.string(let s), _), (.safe(let s), _):
            if let i = intIndex(index) {
                let scalars = Array(s.unicodeScalars)
                guard let c = element(scalars, i) else { return .undefined }
                if case .safe = base { return .safe(String(c)) }
                return .string(String(c))
            }
        case (.object(let o), _):
            if let seq = o as? JinjaSequence, seq.kind.indexable, let i = intIndex(index) {
                return element(seq.items, i) ?? .undefined
            }
            if let k = index.stringValue, let v = try o.attribute(k, r) { return v }
            return .undefined
        default: break
        }
        if let k = index.stringValue { return try attribute(base, k, r) }
        return .undefined
    }

    static func intIndex(_ v: JinjaValue) -> Int? {
        switch v {
        case .int(let i): i
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    static func element<T>(_ a: [T], _ i: Int) -> T? {
        let k = i < 0 ? i + a.count : i
        return k >= 0 && k < a.count ? a[k] : nil
    }

    /// Python's slice.indices(): clamped start and stop, and the step.
    static func sliceBounds(count: Int, _ start: Int?, _ stop: Int?, _ step: Int?) throws(TokenizerError) -> (Int, Int, Int) {
        let step = step ?? 1
        guard step != 0 else { throw TokenizerError("chat template: slice step cannot be zero") }
        func clamp(_ v: Int?, _ dflt: Int, _ lower: Int, _ upper: Int) -> Int {
            guard var v else { return dflt }
            if v < 0 {
                v = v < -count ? lower : v + count
                return max(v, lower)
            }
            return min(v, upper)
        }
        if step > 0 { return (clamp(start, 0, 0, count), clamp(stop, count, 0, count), step) }
        return (clamp(start, count - 1, -1, count - 1), clamp(stop, -1, -1, count - 1), step)
    }

    /// The indices a slice selects, from `sliceBounds`.
    static func sliceIndices(count: Int, _ start: Int?, _ stop: Int?, _ step: Int?) throws(TokenizerError) -> [Int] {
        let (lo, hi, step) = try sliceBounds(count: count, start, stop, step)
        var out: [Int] = []
        var i = lo
        while step > 0 ? i < hi : i > hi {
            out.append(i)
            let (n, o) = i.addingReportingOverflow(step)
            if o { break }
            i = n
        }
        return out
    }

    static func slice(_ base: JinjaValue, _ start: Int?, _ stop: Int?, _ step: Int?) throws(TokenizerError) -> JinjaValue {
        switch base {
        case .array(let a):
            return .array(try sliceIndices(count: a.count, start, stop, step).map { a[$0] })
        case .tuple(let a):
            return .tuple(try sliceIndices(count: a.count, start, stop, step).map { a[$0] })
        case .string(let s), .safe(let s):
            let scalars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for i in try sliceIndices(count: scalars.count, start, stop, step) { out.append(scalars[i]) }
            if case .safe = base { return .safe(String(out)) }
            return .string(String(out))
        case .object(let o):
            if let seq = o as? JinjaSequence, case .range(let oldStart, _, let oldStep) = seq.kind {
                let picked = try sliceIndices(count: seq.items.count, start, stop, step).map { seq.items[$0] }
                let (lo, hi, k) = try sliceBounds(count: seq.items.count, start, stop, step)
                let (a, o1) = oldStep.multipliedReportingOverflow(by: lo), (b, o2) = oldStep.multipliedReportingOverflow(by: hi)
                let (newStep, o3) = oldStep.multipliedReportingOverflow(by: k)
                if o1 || o2 || o3 { throw JinjaNumber.overflow("slice") }
                return .object(JinjaSequence(.range(oldStart &+ a, oldStart &+ b, newStep), picked))
            }
            throw TokenizerError("chat template: '\(o.typeName)' object is not subscriptable")
        default:
            throw TokenizerError("chat template: '\(base.typeName)' object is not subscriptable")
        }
    }
}
