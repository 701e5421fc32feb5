import Foundation
import Logging

/// A directory of its own for one test, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-host-test-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = (path as NSString).appendingPathComponent(name)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}

extension Logger {
    /// A logger that drops everything, for tests that do not read logs.
    static let silent = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The host's logger in tests: silent, unless PIPELINE_TEST_LOG is set.
    static var testLogger: Logger {
        guard ProcessInfo.processInfo.environment["PIPELINE_TEST_LOG"] != nil else { return silent }
        return Logger(label: "host", factory: { StreamLogHandler.standardError(label: $0) })
    }
}

/// The package's root directory, for reading committed files (pipeline.yaml, docs).
let packageRoot = URL(fileURLWithPath: #filePath)  // Tests/HostTests/Support/TestSupport.swift
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// Runs blocking work (waiting for a child process) on a thread of its own,
/// so that it never holds one of Swift's few cooperative threads: tests run
/// in parallel, and a blocked pool would starve the others' waits.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Runs `path` with `arguments` to its end, standard output and error in one
/// text; `environment` nil inherits the test process's.
func runToEnd(_ path: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, text: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}
