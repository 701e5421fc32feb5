/// Why a plugin file was refused. Its description is one line naming the
/// file, what is wrong and how to fix it.
public struct PluginLoadError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The kind of problem, for code that must tell them apart.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Value: String {
            case fileNotFound, notLoadable, noEntrySymbol, declined, badStructSize, abiMajorMismatch,
                abiMinorTooNew, unknownTrailingFields, missingField, missingFunction, badJobTypes,
                buildSignatureMismatch, initFailed, duplicateJobType
        }

        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The code whose ``description`` is `name` (as a runner reports it).
        public init?(named name: String) {
            guard let value = Value(rawValue: name) else { return nil }
            self.value = value
        }

        public var description: String { value.rawValue }

        /// No file at the path.
        public static let fileNotFound = Code(.fileNotFound)
        /// dlopen failed: not a shared library, wrong architecture, missing dependency.
        public static let notLoadable = Code(.notLoadable)
        /// The file does not export `pipeline_plugin_entry_v1`.
        public static let noEntrySymbol = Code(.noEntrySymbol)
        /// The entry function returned NULL.
        public static let declined = Code(.declined)
        /// `struct_size` below the minimum, or implausibly large.
        public static let badStructSize = Code(.badStructSize)
        public static let abiMajorMismatch = Code(.abiMajorMismatch)
        public static let abiMinorTooNew = Code(.abiMinorTooNew)
        /// A larger descriptor whose bytes past the host's size are not zero.
        public static let unknownTrailingFields = Code(.unknownTrailingFields)
        /// A required string is NULL, empty or not UTF-8.
        public static let missingField = Code(.missingField)
        /// A required function pointer is NULL.
        public static let missingFunction = Code(.missingFunction)
        /// No job types, a repeated one, or a bad name.
        public static let badJobTypes = Code(.badJobTypes)
        public static let buildSignatureMismatch = Code(.buildSignatureMismatch)
        public static let initFailed = Code(.initFailed)
        /// Another loaded plugin already claims a job type.
        public static let duplicateJobType = Code(.duplicateJobType)
    }

    public var code: Code
    /// The plugin file.
    public var path: String
    /// What is wrong.
    public var problem: String
    /// What to do about it.
    public var fix: String

    public init(_ code: Code, path: String, problem: String, fix: String) {
        self.code = code
        self.path = path
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "plugin \(path): \(problem); \(fix)" }
}
