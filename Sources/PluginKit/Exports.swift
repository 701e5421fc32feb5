// Plugin authors get JSONValue with PluginKit.
@_exported import PipelineJSON
