public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Programs run with posix_spawn and waitpid, their stdout and stderr in a temporary file. Not
/// Foundation's Process: its waitUntilExit needs a dispatch thread, and callers blocked on a server
/// (one starting it, the others waiting) can hold them all; and a pipe would stay open as long as
/// a daemon the program started lives. The child inherits this process's other descriptors
/// (glibc's closefrom action is not exposed to Swift): a program that leaves a daemon behind must
/// close them, as scripts/postgres-throwaway.sh does.
public enum Spawn {
    /// Runs `program` to completion; its exit status (128 + signal when killed) and output.
    /// `passing`: a descriptor (close-on-exec here) the program gets as descriptor 100, and no other
    /// program spawned meanwhile does.
    public static func run(_ program: String, _ arguments: [String], passing: Int32? = nil) -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-spawn-\(UUID().uuidString)").path
        defer { unlink(log) }
        guard let pid = start(program, arguments, output: log, passing: passing) else { return (127, "cannot run \(program)") }
        let status = wait(pid)
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// Starts `program` with its output in the file `output`; nil when it cannot be started.
    public static func start(_ program: String, _ arguments: [String], output: String = "/dev/null", passing: Int32? = nil) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        if let passing { posix_spawn_file_actions_adddup2(&actions, passing, 100) }  // dup2 clears close-on-exec
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, program, &actions, nil, argv, environ) == 0 else { return nil }
        return pid
    }

    /// Programs run to completion at once by the async forms (`run`, `CLI.run`): the end-to-end
    /// tests wait off the cooperative pool, so nothing else bounds how many run together, and
    /// dozens of processes (and their server connections) on 2 cores make every bounded wait late.
    public static let slots = ProcessSlots(Swift.max(2, 2 * ProcessInfo.processInfo.activeProcessorCount))

    /// `run`, waiting off the cooperative pool.
    public static func run(_ program: String, _ arguments: [String], passing: Int32? = nil) async -> (status: Int32, output: String) {
        await slots.acquire()
        defer { slots.release() }
        return await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: run(program, arguments, passing: passing)) }.start()
        }
    }

    /// Waits for `pid`; its exit status, or 128 + the signal that killed it; -1 when it cannot be
    /// waited for (not our child, or reaped already): never a made-up 0.
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while true {
            if waitpid(pid, &status, 0) == pid { return exitCode(status) }
            if errno != EINTR { return -1 }
        }
    }

    /// Waits for `pid` on a thread of its own: a test blocked in waitpid would hold one of the
    /// cooperative pool's threads (two here), and the tests that could run meanwhile would wait.
    public static func exitStatus(of pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: wait(pid)) }.start()
        }
    }

    /// Runs blocking `body` on a thread of its own and awaits its result, so no cooperative-pool
    /// thread blocks (a server start, a psql round trip, a wait).
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// A waitpid status as a shell shows it: the exit status, or 128 + the signal.
    static func exitCode(_ status: Int32) -> Int32 {
        status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }
}

/// pipe2(2), which Glibc's module map leaves out (it needs _GNU_SOURCE).
@_silgen_name("pipe2") private func systemPipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

extension Spawn {
    /// A pipe whose two ends are close-on-exec from the start (no program spawned meanwhile by
    /// another test can inherit them): [read end, write end], or nil.
    public static func closeOnExecPipe() -> [Int32]? {
        var fds: [Int32] = [0, 0]
        return systemPipe2(&fds, O_CLOEXEC) == 0 ? fds : nil
    }
}

/// A counting semaphore for async callers: `acquire` suspends (holding no thread) until a slot is free.
public final class ProcessSlots: Sendable {
    private let state: Mutex<(free: Int, waiting: [CheckedContinuation<Void, Never>])>

    public init(_ count: Int) { state = Mutex((count, [])) }

    public func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.free > 0 { state.free -= 1; return true }
                state.waiting.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    public func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiting.isEmpty { state.free += 1; return nil }
            return state.waiting.removeFirst()
        }
        next?.resume()
    }
}
