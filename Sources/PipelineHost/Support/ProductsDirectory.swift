import Foundation

/// The directory of the running executable: where SwiftPM puts
/// `pipeline-host`, the test bundle and every `lib<Plugin>.so` of a build,
/// and so the default plugin directory.
public enum ProductsDirectory {
    public static var path: String {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments.first ?? "."
        return (executable as NSString).deletingLastPathComponent
    }

    /// Where plugins are looked for by default: an installed tree's
    /// `lib/pipeline-host/plugins` beside the executable's `bin` (the
    /// package's layout: `/usr/bin`, `/usr/lib/pipeline-host/plugins`), else
    /// the executable's own directory (a build).
    public static var pluginDirectory: String {
        let installed = ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("lib/pipeline-host/plugins")
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: installed, isDirectory: &isDirectory) && isDirectory.boolValue ? installed : path
    }

    /// The path of plugin product `name` (`lib<name>.so`) in the products
    /// directory, or in `PIPELINE_PLUGIN_DIR` when that is set.
    public static func plugin(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        let directory = environment["PIPELINE_PLUGIN_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? path
        return (directory as NSString).appendingPathComponent("lib\(name).so")
    }
}
