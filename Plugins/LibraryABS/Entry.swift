import LibraryBackendKit
import PluginABI
import PluginKit

/// The plugin ABI's entry symbol: hands the host this library's descriptor.
@c public func pipeline_plugin_entry_v1(_ hostMajor: UInt32, _ hostMinor: UInt32)
    -> UnsafePointer<pp_plugin_descriptor>?
{
    PluginExport.descriptor(for: LibraryBackendPlugin<AudiobookshelfServer>.self, hostMajor: hostMajor, hostMinor: hostMinor)
}
