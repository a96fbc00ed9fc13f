/// "auto" hyperparameters, chosen from the training file's size as OpenAI's fine-tuning does: about three passes, but
/// at least ~100 examples seen (so a few dozen rows still get enough steps to learn a format) and at most ~25,000, in
/// batches of about 0.2% of the rows (1 for small files, so those steps are many), at most 256.
public enum Hyperparameters {
    public static func epochs(examples n: Int) -> Int {
        let target = 3, minSeen = 100, maxSeen = 25_000
        let n = max(1, n)
        if n * target < minSeen { return min(25, max(1, minSeen / n)) }
        if n * target > maxSeen { return max(1, maxSeen / n) }
        return target
    }

    public static func batchSize(examples n: Int) -> Int { max(1, min(256, Int((Double(n) * 0.002).rounded()))) }
}
