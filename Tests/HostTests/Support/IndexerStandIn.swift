import Foundation
import ServiceStandIns
import Synchronization
import Hummingbird
import Logging
import NIOCore

/// An indexer's download links, as Prowlarr serves them: `GET /download/<id>`
/// with the API key in `X-Api-Key` answers with the .torrent file, a
/// redirect to a magnet link, or an error status.
final class IndexerStandIn: @unchecked Sendable {
    enum Answer: Sendable {
        case torrent(Data)
        case redirect(String)
        case status(Int)
        /// The torrent, once the test calls ``release(_:)``.
        case held(Data)
    }

    let apiKey = "indexer-key-\(UUID().uuidString.prefix(6))"
    let requiresKey: Bool
    private let answers = Mutex<[String: Answer]>([:])
    private let requests = Mutex<[String]>([])
    private let keys = Mutex<[String: String]>([:])
    private let gates = Mutex<[String: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)]>([:])
    private(set) var port = 0
    /// The stand-in's base URL: what a download client's `indexer_url` names.
    var url: String { "http://127.0.0.1:\(port)" }
    private var task: Task<Void, any Error>?

    /// - Parameter requiresKey: whether downloads need the API key (a
    ///   tracker an indexer redirects to needs none).
    init(requiresKey: Bool = true) async throws {
        self.requiresKey = requiresKey
        let router = Router()
        router.get("download/:id") { [self] request, context -> Response in
            let id = try context.parameters.require("id")
            requests.withLock { $0.append(id) }
            let key = request.headers[.init("X-Api-Key")!]
            if let key { keys.withLock { $0[id] = key } }
            guard !requiresKey || key == apiKey else {
                return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "Unauthorized")))
            }
            switch answers.withLock({ $0[id] }) {
            case .torrent(let data)?:
                return Response(
                    status: .ok, headers: [.contentType: "application/x-bittorrent"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
            case .redirect(let location)?:
                return Response(status: .found, headers: [.location: location])
            case .held(let data)?:
                if let gate = gates.withLock({ $0[id]?.stream }) {
                    for await _ in gate { break }
                }
                return Response(
                    status: .ok, headers: [.contentType: "application/x-bittorrent"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
            case .status(let code)?:
                return Response(status: .init(code: code), body: .init(byteBuffer: ByteBuffer(string: "error \(code)")))
            case nil:
                return Response(status: .notFound)
            }
        }
        let started = try await startStandIn(router, label: "indexer")
        port = started.port
        task = started.task
    }

    deinit { task?.cancel() }

    /// The download URL for `id`, answering `answer`.
    func serve(_ id: String, _ answer: Answer) -> String {
        answers.withLock { $0[id] = answer }
        if case .held = answer {
            let gate = AsyncStream.makeStream(of: Void.self)
            gates.withLock { $0[id] = gate }
        }
        return "http://127.0.0.1:\(port)/download/\(id)" + (requiresKey ? "?apikey=\(apiKey)" : "")
    }

    /// Lets a held answer go.
    func release(_ id: String) {
        _ = gates.withLock { $0[id]?.continuation.yield() }
    }

    /// The X-Api-Key each id was asked for with, if any.
    var keysReceived: [String: String] { keys.withLock { $0 } }

    /// The ids asked for, in order.
    var requested: [String] { requests.withLock { $0 } }
}
