import Foundation
import FuzzTargets
import Testing

/// Every input kept for the fuzz targets, replayed through them: the seed
/// corpus (Fuzz/corpus) and every crash fuzzing ever found
/// (Fuzz/regressions), so that a crash once fixed stays fixed.
@Suite struct FuzzCorpusTests {
    static func inputs(_ folder: String, _ target: FuzzTarget) -> [String] {
        let directory = "\(packageRoot)/Fuzz/\(folder)/\(target.rawValue)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(directory)/\($0)" }
    }

    @Test(arguments: FuzzTarget.allCases)
    func theKeptInputsRunWithoutACrash(_ target: FuzzTarget) async throws {
        let seeds = Self.inputs("corpus", target)
        #expect(seeds.count >= 2, "each target has a seed corpus")
        for file in seeds + Self.inputs("regressions", target) {
            let data = try #require(FileManager.default.contents(atPath: file))
            try await onOwnThread { target.run(data) }
        }
    }
}
