import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `-o` of shadow, raw and sweep (README "Outputs"): never the log, stdout, FIFOs and devices
/// in place, regular files replaced atomically, no temporary file left behind, clear refusals.
@Suite struct OutputTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("run.emalog") }

    init() throws {
        let r = try CLI.run(["ingest", "--db", dir.file("run.emalog"), "--ema", "0.9",
                             Fixtures.path("mlp-f32/steps"), Fixtures.path("mlp-f32/metrics.jsonl")])
        #expect(r.status == 0, "\(r.stderr)")
    }

    /// Runs `program args` with stdout to `stdout` (a pipe when nil); returns status, stdout bytes, stderr.
    func run(_ args: [String], program: String = CLI.binary, stdout: FileHandle? = nil) async throws -> (status: Int32, out: Data, err: String) {
        let running = try CLI.start(program: program, args, stdout: stdout?.fileDescriptor)
        let r = await running.wait()
        return (r.status, stdout == nil ? running.stdoutBytes : Data(), r.stderr)
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// The folder's entries other than the log's own files.
    func entries(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix("run.emalog") }.sorted()
    }

    func reference(_ command: String = "shadow", format: String = "safetensors") async throws -> Data {
        let path = dir.file("reference-\(command).\(format)")
        let r = try await CLI.run([command, "--db", db, "-o", path])
        #expect(r.status == 0, "\(r.stderr)")
        return try bytes(path)
    }

    @Test func theLogItsWALAndSHMAreRefusedUnderAnySpelling() async throws {
        let before = try bytes(db)
        try FileManager.default.createDirectory(atPath: dir.file("sub"), withIntermediateDirectories: true)
        #expect(link(db, dir.file("hard-link")) == 0)
        #expect(symlink(db, dir.file("sym.safetensors")) == 0)
        let spellings = [db, dir.file("sub/../run.emalog"), dir.file("./run.emalog"), dir.file("hard-link"),
                         dir.file("sym.safetensors"), db + "-wal", db + "-shm", dir.file("sub/../run.emalog-wal")]
        for command in ["shadow", "raw"] {
            for spelling in spellings {
                let r = try await CLI.run([command, "--db", db, "-o", spelling])
                #expect(r.status == 64, "\(command) -o \(spelling): \(r.stderr)")
                #expect(r.stderr.contains("refusing to write \(spelling): it is the log's file"), "\(r.stderr)")
                #expect(r.stderr.contains("choose another -o"))
            }
        }
        // Relative to the working folder, as a user types it.
        let relative = try await CLI.run(program: "/usr/bin/env", ["-C", dir.path, CLI.binary, "shadow", "--db", "run.emalog", "-o", "run.emalog"])
        #expect(relative.status == 64, "\(relative.stderr)")
        // stdout appended to the log: `emalog shadow -o - >> run.emalog`.
        let appending = try FileHandle(forWritingTo: URL(fileURLWithPath: db))
        try appending.seekToEnd()
        let r = try await run(["shadow", "--db", db, "-o", "-"], stdout: appending)
        try appending.close()
        #expect(r.status == 64 && r.err.contains("refusing to write stdout: it is the log's file"), "\(r.err)")

        #expect(try bytes(db) == before)
        #expect(try entries(dir.path) == ["hard-link", "sub", "sym.safetensors"])
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 0 && audit.stdout.contains("clean"), "\(audit.stdout)")
    }

    @Test func sweepNeverWritesTheLog() async throws {
        let before = try bytes(db)
        // A log named like a sweep output, in the sweep's folder.
        let named = dir.file("ema-0.9-step-24.safetensors")
        #expect(link(db, named) == 0)
        let r = try await CLI.run(["sweep", "--db", named, "--decays", "0.9", "-o", dir.path])
        #expect(r.status == 64 && r.stderr.contains("it is the log's file"), "\(r.stderr)")
        #expect(try bytes(db) == before)
    }

    @Test func dashStreamsTheSameBytesToStdout() async throws {
        for (command, format) in [("shadow", "safetensors"), ("raw", "safetensors"), ("shadow", "npz"), ("raw", "json")] {
            let expected = try await reference(command, format: format)
            let r = try await run([command, "--db", db, "-o", "-"] + (format == "safetensors" ? [] : ["--format", format]))
            #expect(r.status == 0, "\(r.err)")
            #expect(r.out == expected, "\(command) \(format)")
            let dev = try await run([command, "--db", db, "-o", "/dev/stdout", "--format", format])
            #expect(dev.status == 0 && dev.out == expected, "\(dev.err)")
        }
        let loaded = try LoadedSafetensors(path: dir.file("reference-shadow.safetensors"))
        #expect(loaded.metadata["step"] == "24")
        #expect(try entries(dir.path) == ["reference-raw.json", "reference-raw.safetensors", "reference-shadow.npz",
                                          "reference-shadow.safetensors"])
    }

    @Test func devNullIsWrittenInPlaceAndDevFullIs74() async throws {
        var before = stat()
        #expect(stat("/dev/null", &before) == 0)
        for command in ["shadow", "raw"] {
            let r = try await CLI.run([command, "--db", db, "-o", "/dev/null"])
            #expect(r.status == 0, "\(r.stderr)")
            let full = try await CLI.run([command, "--db", db, "-o", "/dev/full"])
            #expect(full.status == 74, "\(full.stderr)")
            #expect(full.stderr.contains("cannot write /dev/full: write failed: No space left on device; the disk is full"))
        }
        var after = stat()
        #expect(stat("/dev/null", &after) == 0)
        #expect(after.st_mode & S_IFMT == S_IFCHR && after.st_rdev == before.st_rdev && after.st_ino == before.st_ino)
        #expect(try entries("/dev").filter { $0.hasPrefix("null.") || $0.hasPrefix("full.") } == [])
    }

    @Test func aFIFOIsWrittenInPlace() async throws {
        let expected = try await reference()
        let fifo = dir.file("pipe.safetensors")
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = ReceivedBytes()
        let reader = Thread {
            received.set(FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data())
        }
        reader.start()
        let r = try await CLI.run(["shadow", "--db", db, "-o", fifo])
        #expect(r.status == 0, "\(r.stderr)")
        if r.status != 0 { close(open(fifo, O_WRONLY | O_NONBLOCK)) }  // release the reader
        #expect(received.wait() == expected)
        var st = stat()
        #expect(lstat(fifo, &st) == 0 && st.st_mode & S_IFMT == S_IFIFO)
        #expect(try entries(dir.path) == ["pipe.safetensors", "reference-shadow.safetensors"])
    }

    @Test func aRegularFileIsReplacedAndNoTemporaryFileRemains() async throws {
        let expected = try await reference()
        let out = dir.file("ema.safetensors")
        try Data("old".utf8).write(to: URL(fileURLWithPath: out))
        var old = stat()
        #expect(stat(out, &old) == 0)
        #expect(try await CLI.run(["shadow", "--db", db, "-o", out]).status == 0)
        var new = stat()
        #expect(stat(out, &new) == 0 && new.st_ino != old.st_ino)  // a new file renamed into place
        #expect(try bytes(out) == expected)
        #expect(new.st_mode & 0o777 == 0o666 & ~currentUmask())
        #expect(try entries(dir.path) == ["ema.safetensors", "reference-shadow.safetensors"])
        // Without an extension: safetensors.
        #expect(try await CLI.run(["shadow", "--db", db, "-o", dir.file("out")]).status == 0)
        #expect(try bytes(dir.file("out")) == expected)
    }

    @Test func aSymbolicLinkIsWrittenThroughAndADanglingOneRefused() async throws {
        let expected = try await reference()
        let target = dir.file("target.safetensors")
        try Data("old".utf8).write(to: URL(fileURLWithPath: target))
        #expect(symlink("target.safetensors", dir.file("latest.safetensors")) == 0)
        #expect(try await CLI.run(["shadow", "--db", db, "-o", dir.file("latest.safetensors")]).status == 0)
        #expect(try bytes(target) == expected)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir.file("latest.safetensors")) == "target.safetensors")

        #expect(symlink("missing.safetensors", dir.file("dangling.safetensors")) == 0)
        let r = try await CLI.run(["shadow", "--db", db, "-o", dir.file("dangling.safetensors")])
        #expect(r.status == 74 && r.stderr.contains("it is a symbolic link to a missing file (missing.safetensors)"), "\(r.stderr)")
        #expect(try entries(dir.path) == ["dangling.safetensors", "latest.safetensors", "reference-shadow.safetensors",
                                          "target.safetensors"])
    }

    /// A write that fails half-way (the file size limit) leaves nothing behind, whether the failure is
    /// an error (SIGXFSZ ignored or blocked: 74) or the signal that kills the process (the handler removes the file).
    @Test func aFailedWriteLeavesNoTemporaryFile() async throws {
        let big = TemporaryDirectory()
        try SyntheticRun.write(steps: 1...2, parameters: 200_000, to: big.file("steps"))
        let log = big.file("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", big.file("steps")]).status == 0)
        let out = big.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let limited = "ulimit -f 400; exec \"$0\" \"$@\""  // dash: 512-byte blocks, 200 KiB; the output is 800 KB
        let error = try await run(["-c", "trap '' XFSZ; " + limited, CLI.binary, "shadow", "--db", log, "-o", out + "/ema.safetensors"],
                            program: "/bin/sh")
        #expect(error.status == 74 && error.err.contains("cannot write \(out)/ema.safetensors: write failed: File too large"),
                "\(error.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
        // The signal's default action needs SIGXFSZ neither ignored nor blocked, and the test runner
        // may start children with it blocked, which a shell cannot undo: python resets both, if present.
        let python = ["/usr/bin/python3", "/usr/local/bin/python3", "/root/.pyenv/shims/python3"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { return }
        let reset = "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_DFL); "
            + "signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGXFSZ]); "
            + "resource.setrlimit(resource.RLIMIT_FSIZE, (200 << 10, 200 << 10)); os.execv(sys.argv[1], sys.argv[1:])"
        let killed = try await run(["-c", reset, CLI.binary, "raw", "--db", log, "-o", out + "/raw.safetensors"], program: python)
        #expect(killed.status == 128 + SIGXFSZ && killed.err.isEmpty, "\(killed.status) \(killed.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out) == [])
    }

    @Test func refusalsNameTheProblem() async throws {
        try FileManager.default.createDirectory(atPath: dir.file("folder"), withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: dir.file("file")))
        let cases: [([String], Int32, String)] = [
            (["shadow", "-o", dir.file("x.pt")], 64, "unknown output extension '.pt': use .safetensors, .npz or .json, or pass --format"),
            (["raw", "-o", dir.file("x.PT")], 64, "unknown output extension '.PT'"),
            (["shadow", "-o", dir.file("folder")], 74, "cannot write \(dir.file("folder")): it is a folder; give a file name"),
            (["raw", "-o", dir.file("new/")], 74, "it is a folder"),
            (["shadow", "-o", dir.file("missing/x.safetensors")], 74, "the folder \(dir.file("missing")) does not exist"),
            (["shadow", "-o", dir.file("file/x.safetensors")], 74, "Not a directory"),
            (["sweep", "--decays", "0.9", "-o", dir.file("file")], 74,
             "cannot write into \(dir.file("file")): it exists and is not a folder"),
            (["sweep", "--decays", "0.9", "-o", "-"], 64, "-o - is stdout, but sweep writes one file per EMA: give -o a folder"),
        ]
        for (args, status, message) in cases {
            let r = try await CLI.run([args[0], "--db", db] + args.dropFirst())
            #expect(r.status == status, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
            #expect(!r.stderr.contains("NSCocoaErrorDomain"))
        }
        #expect(try await CLI.run(["shadow", "--db", db, "-o", dir.file("x.pt"), "--format", "safetensors"]).status == 0)
        #expect(try entries(dir.path) == ["file", "folder", "x.pt"])
    }

    @Test func binaryIsNotWrittenToATerminal() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { return }  // util-linux gives a pty
        let command = "'\(CLI.binary)' shadow --db '\(db)' -o -"
        let r = try await run(["-qec", command, "/dev/null"], program: "/usr/bin/script")
        #expect(r.status == 64, "\(r.err)")
        #expect(String(decoding: r.out, as: UTF8.self).contains("refusing to write safetensors bytes to a terminal"))
        let json = try await run(["-qec", command + " --format json", "/dev/null"], program: "/usr/bin/script")
        #expect(json.status == 0 && String(decoding: json.out, as: UTF8.self).hasPrefix("{\"metadata\":"))
    }

    /// The umask the binary inherits (read, not set: tests run in parallel).
    private func currentUmask() -> mode_t {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("Umask:") } ?? "Umask: 0022"
        return mode_t(line.split(separator: "\t").last.flatMap { UInt32($0.trimmingCharacters(in: .whitespaces), radix: 8) } ?? 0o022)
    }
}

/// Bytes handed from a reader thread to the test.
private final class ReceivedBytes: @unchecked Sendable {
    // Guarded by `condition`.
    private var data: Data?
    private let condition = NSCondition()

    func set(_ value: Data) {
        condition.lock()
        data = value
        condition.signal()
        condition.unlock()
    }

    func wait() -> Data {
        condition.lock()
        defer { condition.unlock() }
        while data == nil { condition.wait() }
        return data!
    }
}
