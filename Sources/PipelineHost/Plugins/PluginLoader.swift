import Foundation
import PluginABI

#if canImport(Glibc)
import Glibc
#endif

/// Opens plugin files and checks them against ABI 1 before any of their
/// functions but the entry function runs.
///
/// The checks, in order: the file exists and dlopen takes it; it exports
/// `pipeline_plugin_entry_v1`; the entry returns a descriptor; the
/// descriptor's ABI major equals the host's and its minor is not newer; its
/// `struct_size` is at least ``minimumDescriptorSize`` and, if larger than the
/// host's, the extra bytes are zero; every required string and function is
/// there; the job types are one or more valid, distinct names; the build
/// signature matches the host's. ``LoadedPlugin/start(name:configJSON:configSource:logger:)``
/// then runs the plugin's `init`.
///
/// A file is opened with `RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE` and never
/// closed: unmapping Swift code crashes the process at its next dynamic cast.
/// dlopen itself runs the file's ELF constructors (Swift's runtime
/// registration among them); that much code runs before any check.
public enum PluginLoader {
    /// The smallest descriptor ABI 1 accepts: one that ends with the
    /// required fields.
    public static let minimumDescriptorSize = Int(PP_DESCRIPTOR_SIZE_MIN)
    /// The descriptor this host was built with.
    public static let hostDescriptorSize = MemoryLayout<pp_plugin_descriptor>.size
    /// Larger than this is not a descriptor at all.
    static let maximumDescriptorSize = 64 * 1024

    /// What C plugins must match: the platform part of the build signature.
    public static let platformSignature = String(cString: pp_build_signature())
    /// What Swift plugins must match: the platform and the Swift toolchain.
    public static let swiftSignature = platformSignature + " " + String(cString: pp_swift_toolchain_signature())

    /// The absolute path of a plugin named on the command line: a bare file
    /// name is looked for in `PIPELINE_PLUGIN_DIR`, else in the directory of
    /// pipeline-host (where pipeline.yaml's relative paths point too); a
    /// relative path with a folder in it is relative to the current directory.
    public static func resolve(_ given: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if given.hasPrefix("/") { return (given as NSString).standardizingPath }
        if !given.contains("/") {
            let directory = environment["PIPELINE_PLUGIN_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ProductsDirectory.path
            return ((directory as NSString).appendingPathComponent(given) as NSString).standardizingPath
        }
        return ((FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(given) as NSString).standardizingPath
    }

    /// Opens and checks the plugin at `path`: in this process, or, with
    /// `isolation` `process`, in a runner process (the same checks, by the
    /// same code), so that none of the plugin's code runs in the host.
    ///
    /// - Throws: ``PluginLoadError`` naming the file, the problem and the fix.
    public static func load(path given: String, isolation: PluginIsolation = .inProcess) throws(PluginLoadError) -> LoadedPlugin {
        // dlopen searches the library path for a bare name: always hand it an absolute path.
        let path = given.hasPrefix("/") ? given : resolve(given)
        func refuse(_ code: PluginLoadError.Code, _ problem: String, _ fix: String) -> PluginLoadError {
            PluginLoadError(code, path: path, problem: problem, fix: fix)
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw refuse(
                .fileNotFound, "no such file",
                "build the plugin (a C plugin: `cc -shared -fPIC -I<dir of pipeline_plugin.h> -o lib<Name>.so <name>.c`; "
                    + "this project's own: `swift build`), or fix its path (a bare file name is looked for in "
                    + "PIPELINE_PLUGIN_DIR, which defaults to lib/pipeline-host/plugins beside an installed pipeline-host's bin, or else its own directory; other relative paths are "
                    + "relative to pipeline.yaml's plugin_dir, or to the current directory on the command line)")
        }
        let build = PluginImages.identity(of: path)
        if case .process = isolation.mode {
            let info = try PluginRunner.inspect(path: path)
            return LoadedPlugin(path: path, info: info, descriptor: pp_plugin_descriptor(), build: build, isolation: isolation)
        }
        let imagePath = try PluginImages.pathToOpen(for: path)
        _ = dlerror()
        guard let handle = dlopen(imagePath, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw refuse(
                .notLoadable, "dlopen failed: \(reason)",
                "make sure it is a shared library built for this machine and that its dependencies are "
                    + "installed (ldd \(path))")
        }
        guard let symbol = dlsym(handle, PP_ENTRY_SYMBOL) else {
            let otherNames: [String] = ["pipeline_plugin_entry_v2", "pipeline_plugin_entry_v0", "pipeline_plugin_entry"]
            let other = otherNames.first { dlsym(handle, $0) != nil }
            let found = other.map { " (it exports \($0) instead)" } ?? ""
            throw refuse(
                .noEntrySymbol, "it does not export the entry symbol \(PP_ENTRY_SYMBOL)\(found)",
                "define `PP_EXPORT const pp_plugin_descriptor *\(PP_ENTRY_SYMBOL)(uint32_t, uint32_t)` "
                    + "(docs/plugin-abi.md), or in Swift a public @c function of that name")
        }
        let entry = unsafeBitCast(symbol, to: pp_entry_fn.self)
        guard let descriptor = entry(UInt32(PP_ABI_VERSION_MAJOR), UInt32(PP_ABI_VERSION_MINOR)) else {
            throw refuse(
                .declined, "its entry function returned NULL for host ABI \(hostABI)",
                "the plugin does not support this host's ABI; use a build of it made for ABI \(hostABI)")
        }
        let raw = UnsafeRawPointer(descriptor)
        let size = Int(raw.load(as: UInt32.self))
        guard size >= 16, size <= maximumDescriptorSize else {
            throw refuse(
                .badStructSize, "its descriptor's struct_size is \(size) bytes",
                "set struct_size = sizeof(pp_plugin_descriptor) (\(hostDescriptorSize) bytes in ABI \(hostABI))")
        }
        let major = raw.load(fromByteOffset: 4, as: UInt32.self)
        let minor = raw.load(fromByteOffset: 8, as: UInt32.self)
        guard major == UInt32(PP_ABI_VERSION_MAJOR) else {
            throw refuse(
                .abiMajorMismatch, "it is built for plugin ABI \(major).\(minor); this host speaks ABI \(hostABI)",
                "rebuild the plugin against this host's pipeline_plugin.h (ABI \(PP_ABI_VERSION_MAJOR).x)")
        }
        guard minor <= UInt32(PP_ABI_VERSION_MINOR) else {
            throw refuse(
                .abiMinorTooNew, "it is built for plugin ABI \(major).\(minor), newer than this host's \(hostABI)",
                "upgrade pipeline-host, or rebuild the plugin against the ABI \(hostABI) header")
        }
        guard size >= minimumDescriptorSize else {
            throw refuse(
                .badStructSize,
                "its descriptor's struct_size is \(size) bytes, below the \(minimumDescriptorSize) that ABI 1 requires",
                "set struct_size = sizeof(pp_plugin_descriptor)")
        }
        if size > hostDescriptorSize,
            let offset = (hostDescriptorSize..<size).first(where: { raw.load(fromByteOffset: $0, as: UInt8.self) != 0 })
        {
            throw refuse(
                .unknownTrailingFields,
                "its descriptor is \(size) bytes, larger than the \(hostDescriptorSize) this host knows, and byte "
                    + "\(offset) is not zero, so it sets fields this host cannot honour",
                "upgrade pipeline-host, or leave the fields this host does not know zero")
        }
        // Read through a zeroed copy: fields an older plugin lacks read as absent.
        var copy = pp_plugin_descriptor()
        withUnsafeMutableBytes(of: &copy) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: raw, count: min(size, hostDescriptorSize)))
        }

        var strings: [String: String] = [:]
        for (field, pointer) in [("build_signature", copy.build_signature), ("id", copy.id), ("name", copy.name), ("version", copy.version)] {
            guard let pointer else {
                throw refuse(.missingField, "its descriptor's '\(field)' is NULL", "set '\(field)' to a static string (see docs/plugin-abi.md)")
            }
            guard let value = String(validatingCString: pointer) else {
                throw refuse(.missingField, "its descriptor's '\(field)' is not UTF-8", "write '\(field)' in UTF-8")
            }
            guard !value.isEmpty else {
                throw refuse(.missingField, "its descriptor's '\(field)' is empty", "set '\(field)' to a non-empty static string")
            }
            strings[field] = value
        }
        var jobTypes = try readJobTypes(copy.job_types, refuse: refuse)
        // A pure driver (no job types of its own) may leave execute NULL.
        let needsExecute = !jobTypes.isEmpty || copy.get_extension == nil
        for (field, present) in [("init", copy.`init` != nil), ("execute", copy.execute != nil || !needsExecute), ("shutdown", copy.shutdown != nil)]
        where !present {
            throw refuse(
                .missingFunction, "its descriptor's function '\(field)' is NULL",
                "every plugin must provide init, execute and shutdown (execute may be NULL only in a driver without job types)")
        }
        let signature = strings["build_signature"]!
        try checkSignature(signature, refuse: refuse)
        let drivers = try DriverTables.read(copy.get_extension, refuse: refuse)
        guard !jobTypes.isEmpty || drivers.interfaces.offersAny else {
            throw refuse(
                .badJobTypes, "its job_types list is empty and it offers no interface through get_extension",
                "list at least one job type before the NULL, or offer a download-client or library-backend table")
        }
        var interfaces = drivers.interfaces
        interfaces.hostJobTypes = interfaces.hostJobTypes.filter { !jobTypes.contains($0) }
        jobTypes += interfaces.hostJobTypes

        let info = PluginDescriptorInfo(
            id: strings["id"]!, name: strings["name"]!, version: strings["version"]!,
            description: copy.description.flatMap { String(validatingCString: $0) }, jobTypes: jobTypes,
            abiMajor: major, abiMinor: minor, structSize: UInt32(size), flags: copy.flags,
            buildSignature: signature, hasCheck: copy.check != nil || interfaces.offersAny, interfaces: interfaces)
        return LoadedPlugin(path: path, info: info, descriptor: copy, drivers: drivers, build: build, imagePath: imagePath)
    }

    static var hostABI: String { "\(PP_ABI_VERSION_MAJOR).\(PP_ABI_VERSION_MINOR)" }

    private static func readJobTypes(
        _ array: UnsafePointer<UnsafePointer<CChar>?>?,
        refuse: (PluginLoadError.Code, String, String) -> PluginLoadError
    ) throws(PluginLoadError) -> [String] {
        guard let array else {
            throw refuse(.missingField, "its descriptor's 'job_types' is NULL", "list the job types it handles, ending with NULL")
        }
        var types: [String] = []
        var index = 0
        while let pointer = array[index] {
            guard index < 1000 else {
                throw refuse(.badJobTypes, "its job_types list has no NULL terminator in 1000 entries", "end the list with NULL")
            }
            guard let name = String(validatingCString: pointer) else {
                throw refuse(.badJobTypes, "job type #\(index + 1) is not UTF-8", "write job type names in UTF-8")
            }
            guard !name.isEmpty else {
                throw refuse(.badJobTypes, "job type #\(index + 1) is an empty string", "give every job type a name, or end the list with NULL")
            }
            guard ConfigurationLoader.isValidName(name, allowDots: true) else {
                throw refuse(
                    .badJobTypes, "job type #\(index + 1), '\(EscapingLogHandler.escape(String(name.prefix(80))))', is not a valid name",
                    "use letters, digits, '_', '-' and '.' only")
            }
            guard !types.contains(name) else {
                throw refuse(.badJobTypes, "it lists job type '\(name)' twice", "list each job type once")
            }
            types.append(name)
            index += 1
        }
        return types
    }

    private static func checkSignature(
        _ signature: String, refuse: (PluginLoadError.Code, String, String) -> PluginLoadError
    ) throws(PluginLoadError) {
        if signature == platformSignature || signature == swiftSignature { return }
        let platform = signature.components(separatedBy: " swift=").first ?? signature
        if platform != platformSignature {
            throw refuse(
                .buildSignatureMismatch,
                "it is built for \"\(platform)\", and this host is \"\(platformSignature)\"",
                "rebuild the plugin for this platform")
        }
        throw refuse(
            .buildSignatureMismatch,
            "it is built with another Swift toolchain (\"\(signature)\"; this host: \"\(swiftSignature)\")",
            "Swift plugins share the host's Swift runtime; rebuild the plugin with the toolchain that built "
                + "pipeline-host")
    }
}

/// What a plugin's descriptor says about it, as checked by the loader.
public struct PluginDescriptorInfo: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var version: String
    public var description: String?
    public var jobTypes: [String]
    public var abiMajor: UInt32
    public var abiMinor: UInt32
    /// The descriptor's `struct_size`: smaller than the host's for an older plugin.
    public var structSize: UInt32
    public var flags: UInt32
    public var buildSignature: String
    /// Whether the plugin offers the optional `check` function (or a
    /// driver's `test`, which the host calls instead).
    public var hasCheck: Bool
    /// The interfaces it offers through `get_extension` (since ABI 1.3).
    public var interfaces = PluginInterfaces()

    /// Whether the host must never run two of its jobs at once.
    public var serialExecution: Bool { flags & PP_FLAG_SERIAL_EXECUTE != 0 }
}
