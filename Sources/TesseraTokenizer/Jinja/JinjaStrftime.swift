import Foundation

/// transformers' `strftime_now(fmt)` is `datetime.now().strftime(fmt)`: local time, C locale (English names).
enum JinjaStrftime {
    static let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    static let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                         "October", "November", "December"]

    static func format(_ date: Date, _ format: String) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone.current
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let year = c.year ?? 1970, month = c.month ?? 1, day = c.day ?? 1
        let hour = c.hour ?? 0, minute = c.minute ?? 0, second = c.second ?? 0
        let weekday = (c.weekday ?? 1) - 1  // 0 = Sunday
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        func pad(_ v: Int, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var out = ""
        let f = Array(format.unicodeScalars)
        var i = 0
        while i < f.count {
            guard f[i] == "%", i + 1 < f.count else {
                out.unicodeScalars.append(f[i])
                i += 1
                continue
            }
            var code = f[i + 1]
            var noPad = false
            i += 2
            if code == "-", i < f.count {
                noPad = true
                code = f[i]
                i += 1
            }
            func num(_ v: Int, _ width: Int = 2) -> String { noPad ? String(v) : pad(v, width) }
            let hour12 = hour % 12 == 0 ? 12 : hour % 12
            switch code {
            case "Y": out += String(year)
            case "y": out += num(year % 100)
            case "m": out += num(month)
            case "d": out += num(day)
            case "e": out += day < 10 ? " \(day)" : "\(day)"
            case "H": out += num(hour)
            case "I": out += num(hour12)
            case "M": out += num(minute)
            case "S": out += num(second)
            case "f": out += pad((c.nanosecond ?? 0) / 1000, 6)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "A": out += days[weekday]
            case "a": out += String(days[weekday].prefix(3))
            case "B": out += months[month - 1]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "j": out += num(dayOfYear, 3)
            case "w": out += String(weekday)
            case "u": out += String(weekday == 0 ? 7 : weekday)
            case "D": out += two(month) + "/" + two(day) + "/" + two(year % 100)
            case "F": out += String(year) + "-" + two(month) + "-" + two(day)
            case "T": out += two(hour) + ":" + two(minute) + ":" + two(second)
            case "R": out += two(hour) + ":" + two(minute)
            case "c": out += String(days[weekday].prefix(3)) + " " + String(months[month - 1].prefix(3)) + " " + (day < 10 ? " \(day)" : "\(day)") + " " + two(hour) + ":" + two(minute) + ":" + two(second) + " " + String(year)
            case "x": out += two(month) + "/" + two(day) + "/" + two(year % 100)
            case "X": out += two(hour) + ":" + two(minute) + ":" + two(second)
            case "Z": out += TimeZone.current.abbreviation(for: date) ?? ""
            case "z":
                let offset = TimeZone.current.secondsFromGMT(for: date)
                out += (offset < 0 ? "-" : "+") + two(abs(offset) / 3600) + two(abs(offset) % 3600 / 60)
            case "n": out += "\n"
            case "t": out += "\t"
            case "%": out += "%"
            default:
                out += "%"
                if noPad { out += "-" }
                out.unicodeScalars.append(code)
            }
        }
        return out
    }
}
