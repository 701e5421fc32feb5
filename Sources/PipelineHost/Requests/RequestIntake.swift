import Foundation
import PipelinePayloads

/// Why a request could not be added.
public enum RequestIntakeError: Error, Sendable, CustomStringConvertible {
    /// postgres.enabled is false: there is no request ledger.
    case noLedger
    case ledger(RequestLedgerError)
    /// The request is stored, but its search job could not be added.
    case searchNotQueued(requestID: String, QueueError)

    public var description: String {
        switch self {
        case .noLedger: return "postgres.enabled is false: this host keeps no requests"
        case .ledger(let error): return error.description
        case .searchNotQueued(let id, let error):
            return "request \(id) is stored, but its search could not be queued (\(error)); retry the request"
        }
    }
}

extension PipelineRuntime {
    /// Adds a request for a book and starts its search (`search_indexers`,
    /// when a plugin handles it), with the payload the search reads: what
    /// the admin API's `POST /api/admin/requests` and `request add` do.
    public func submit(_ new: NewRequest) async throws(RequestIntakeError) -> RequestRecord {
        guard let ledger else { throw .noLedger }
        let record: RequestRecord
        let snapshot: RequestSnapshot?
        do {
            record = try await ledger.create(new)
            snapshot = try await ledger.snapshot(record.id)
        } catch {
            throw .ledger(error)
        }
        if queues["search_indexers"] != nil, let snapshot {
            do {
                let payload = String(decoding: try JSONEncoder().encode(snapshot.searchPayload()), as: UTF8.self)
                _ = try await enqueue("search_indexers", payloadJSON: payload)
            } catch let error as QueueError {
                throw .searchNotQueued(requestID: record.id, error)
            } catch {
                throw .searchNotQueued(requestID: record.id, .unexpected("\(error)"))
            }
        }
        return record
    }
}
