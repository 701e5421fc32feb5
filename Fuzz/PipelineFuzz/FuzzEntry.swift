// The fuzzing entry. Built with `-sanitize=fuzzer -DFUZZING -parse-as-library`
// by scripts/fuzz, libFuzzer drives LLVMFuzzerTestOneInput with the target
// that PIPELINE_FUZZ_TARGET names. Built normally (as `swift build` does), it
// replays files through a target: `pipeline-fuzz TARGET FILE...`.
import Foundation
import FuzzTargets

#if FUZZING
    /// The target, chosen once from the environment.
    private let target: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["PIPELINE_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(
                Data("set PIPELINE_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return target
    }()

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzz(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
        target.run(start.map { Data(bytes: $0, count: count) } ?? Data())
        return 0
    }

    /// libFuzzer's driver, started from this executable's own entry point
    /// (SwiftPM names an executable target's `main` after the target).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("PipelineFuzz_main")
    public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var count = argc
        var vector = argv
        return runFuzzerDriver(&count, &vector, { start, size in fuzz(start, size) })
    }
#else
    @main
    struct FuzzReplay {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                print("usage: pipeline-fuzz TARGET FILE...   (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
                exit(2)
            }
            for file in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: file) else {
                    print("cannot read \(file)")
                    exit(1)
                }
                target.run(data)
            }
            print("\(arguments.count - 1) input(s) ran through \(name) without a crash")
        }
    }
#endif
