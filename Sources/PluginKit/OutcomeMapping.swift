import PluginABI

/// Turns what a Swift plugin returned or threw into an ABI outcome.
package enum OutcomeMapping {
    /// The outcome for an error thrown by `execute`, `check` or `init`.
    package static func outcome(for error: any Error) -> JobOutcome {
        switch error {
        case let error as PluginError where error.disposition == .permanent:
            return .fail(error.message, details: error.details)
        case let error as PluginError:
            return .retry(error.message, after: error.retryAfter, details: error.details)
        case is CancellationError:
            return .retry("cancelled by the host")
        default:
            return .retry("\(type(of: error)): \(error)")
        }
    }

    /// Hands `outcome` to the host through the call's services and returns
    /// the code `execute` returns.
    package static func deliver(_ outcome: JobOutcome, api: UnsafePointer<pp_host_api>, call: OpaquePointer) -> pp_outcome {
        let host = api.pointee
        switch outcome.kind {
        case .done:
            let json = (try? JSONCoding.encode(outcome.result)) ?? "null"
            _ = host.set_result(call, json)
            return PP_OUTCOME_DONE
        case .retry, .fail:
            let details = outcome.details.flatMap { try? JSONCoding.encode($0) }
            _ = withOptionalCString(details) { host.set_error(call, outcome.message ?? "failed", $0) }
            if outcome.kind == .retry, let delay = outcome.delay {
                _ = host.set_delay(call, delay.wholeMilliseconds)
            }
            return outcome.kind == .retry ? PP_OUTCOME_RETRY : PP_OUTCOME_FAIL
        case .reschedule:
            _ = host.set_delay(call, (outcome.delay ?? .zero).wholeMilliseconds)
            if let payload = outcome.payload, let json = try? JSONCoding.encode(payload) {
                _ = host.set_payload(call, json)
            }
            return PP_OUTCOME_RESCHEDULE
        }
    }
}
