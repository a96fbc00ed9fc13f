import Foundation

/// Line and bar charts as inline SVG: the report must open in a browser with no network, so no plotting library.
enum SVGChart {
    static let width = 560.0, height = 300.0
    static let left = 64.0, right = 16.0, top = 28.0, bottom = 44.0
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    struct Series {
        var name: String
        var points: [(Double, Double)]
    }

    static func line(title: String, x: String, y: String, series: [Series], markers: Bool = false) -> String {
        let all = series.flatMap(\.points)
        guard !all.isEmpty else { return empty(title) }
        let xs = ticks(all.map(\.0).min()!, all.map(\.0).max()!), ys = ticks(min(0, all.map(\.1).min()!), all.map(\.1).max()!)
        var svg = frame(title: title, x: x, y: y, xs: xs, ys: ys)
        for (i, s) in series.enumerated() where !s.points.isEmpty {
            let c = colors[i % colors.count]
            let path = s.points.map { "\(fmt(px($0.0, xs))),\(fmt(py($0.1, ys)))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(c)\" stroke-width=\"1.8\" points=\"\(path)\"/>"
            if markers { for p in s.points { svg += "<circle cx=\"\(fmt(px(p.0, xs)))\" cy=\"\(fmt(py(p.1, ys)))\" r=\"3\" fill=\"\(c)\"/>" } }
        }
        if series.count > 1 {
            for (i, s) in series.enumerated() {
                let yy = top + 14 + Double(i) * 15
                svg += "<rect x=\"\(fmt(width - right - 150))\" y=\"\(fmt(yy - 9))\" width=\"10\" height=\"10\" fill=\"\(colors[i % colors.count])\"/>"
                svg += "<text x=\"\(fmt(width - right - 135))\" y=\"\(fmt(yy))\" font-size=\"11\">\(escape(s.name))</text>"
            }
        }
        return svg + "</svg>"
    }

    static func bars(title: String, y: String, labels: [String], values: [Double]) -> String {
        guard !values.isEmpty else { return empty(title) }
        let ys = ticks(0, max(values.max()!, 1e-9))
        let xs = (lo: 0.0, hi: Double(values.count), step: 1.0)
        var svg = frame(title: title, x: "", y: y, xs: nil, ys: ys)
        let slot = (width - left - right) / Double(values.count)
        for (i, v) in values.enumerated() {
            let x0 = px(Double(i), xs) + slot * 0.15, y0 = py(v, ys)
            svg += "<rect x=\"\(fmt(x0))\" y=\"\(fmt(y0))\" width=\"\(fmt(slot * 0.7))\" height=\"\(fmt(height - bottom - y0))\" fill=\"\(colors[0])\"><title>\(escape(labels[i])): \(fmt(v))</title></rect>"
            if values.count <= 24 {
                let cx = px(Double(i) + 0.5, xs)
                svg += "<text x=\"\(fmt(cx))\" y=\"\(fmt(height - bottom + 14))\" font-size=\"10\" text-anchor=\"end\" transform=\"rotate(-30 \(fmt(cx)) \(fmt(height - bottom + 14)))\">\(escape(String(labels[i].suffix(18))))</text>"
            }
        }
        return svg + "</svg>"
    }

    private typealias Axis = (lo: Double, hi: Double, step: Double)

    private static func frame(title: String, x: String, y: String, xs: Axis?, ys: Axis) -> String {
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"sans-serif\">"
        svg += "<text x=\"\(fmt(width / 2))\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">\(escape(title))</text>"
        for v in marks(ys) {
            let yy = py(v, ys)
            svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(width - right))\" y1=\"\(fmt(yy))\" y2=\"\(fmt(yy))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(yy + 4))\" text-anchor=\"end\" font-size=\"10\">\(label(v))</text>"
        }
        if let xs {
            for u in marks(xs) {
                let xx = px(u, xs)
                svg += "<line x1=\"\(fmt(xx))\" x2=\"\(fmt(xx))\" y1=\"\(fmt(top))\" y2=\"\(fmt(height - bottom))\" stroke=\"#eee\"/>"
                svg += "<text x=\"\(fmt(xx))\" y=\"\(fmt(height - bottom + 14))\" text-anchor=\"middle\" font-size=\"10\">\(label(u))</text>"
            }
        }
        svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(left))\" y1=\"\(fmt(top))\" y2=\"\(fmt(height - bottom))\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(fmt(left))\" x2=\"\(fmt(width - right))\" y1=\"\(fmt(height - bottom))\" y2=\"\(fmt(height - bottom))\" stroke=\"#333\"/>"
        svg += "<text x=\"\(fmt((left + width - right) / 2))\" y=\"\(fmt(height - 6))\" text-anchor=\"middle\" font-size=\"11\">\(escape(x))</text>"
        svg += "<text x=\"12\" y=\"\(fmt((top + height - bottom) / 2))\" text-anchor=\"middle\" font-size=\"11\" transform=\"rotate(-90 12 \(fmt((top + height - bottom) / 2)))\">\(escape(y))</text>"
        return svg
    }

    private static func empty(_ title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"60\" font-family=\"sans-serif\"><text x=\"10\" y=\"30\" font-size=\"13\">\(escape(title)): no data</text></svg>"
    }

    /// Round axis steps (1, 2, 5 × 10^k) covering [lo, hi] in about five ticks.
    static func ticks(_ lo: Double, _ hi: Double) -> (lo: Double, hi: Double, step: Double) {
        let span = hi > lo ? hi - lo : max(abs(hi), 1)
        let raw = span / 5, mag = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        let a = (lo / step).rounded(.down) * step, b = max((hi / step).rounded(.up) * step, a + step)
        return (a, b, step)
    }

    /// The tick values of an axis, from its low end to its high end.
    private static func marks(_ a: Axis) -> [Double] {
        Array(stride(from: a.lo, through: a.hi + a.step / 2, by: a.step))
    }

    private static func px(_ v: Double, _ a: Axis) -> Double { left + (v - a.lo) / (a.hi - a.lo) * (width - left - right) }
    private static func py(_ v: Double, _ a: Axis) -> Double { height - bottom - (v - a.lo) / (a.hi - a.lo) * (height - top - bottom) }
    private static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
    private static func label(_ v: Double) -> String {
        abs(v) >= 1000 || v == v.rounded() ? String(Int(v.rounded())) : String(format: "%g", (v * 1000).rounded() / 1000)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
