import Foundation

/// What `tessera train` does when the server runs it as a fine-tuning job's child (DESIGN 3.12).
enum TrainerChild {
    /// The lowest CPU priority Linux offers, for every thread there is now (OpenBLAS starts its own before `main`)
    /// and, by inheritance, every thread made later: SCHED_IDLE, and nice 19 where SCHED_IDLE is refused. Serving
    /// then takes the cores whenever it wants them; the trainer gets what is left.
    static func lowerPriority() {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        for tid in tasks.compactMap({ pid_t($0) }) + [0] {
            var param = sched_param()
            param.sched_priority = 0
            _ = sched_setscheduler(tid, 5, &param)  // SCHED_IDLE (5), which Glibc only declares under _GNU_SOURCE
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid), 19)
        }
    }

    /// Exits as soon as stdin reaches its end: the server holds the other end of the pipe, and the kernel closes it
    /// when the server dies, however it dies, so no trainer outlives its server.
    static func exitWhenStdinCloses() {
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while true {
                let n = read(STDIN_FILENO, &byte, 1)
                if n == 0 || (n < 0 && errno != EINTR) { _exit(3) }
            }
        }
    }
}
