import Foundation
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
    }

    let apiKey = "indexer-key-\(UUID().uuidString.prefix(6))"
    private let answers = Mutex<[String: Answer]>([:])
    private let requests = Mutex<[String]>([])
    private(set) var port = 0
    private var task: Task<Void, any Error>?

    init() async throws {
        let router = Router()
        router.get("download/:id") { [self] request, context -> Response in
            let id = try context.parameters.require("id")
            requests.withLock { $0.append(id) }
            guard request.headers[.init("X-Api-Key")!] == apiKey else {
                return Response(status: .unauthorized, body: .init(byteBuffer: ByteBuffer(string: "Unauthorized")))
            }
            switch answers.withLock({ $0[id] }) {
            case .torrent(let data)?:
                return Response(
                    status: .ok, headers: [.contentType: "application/x-bittorrent"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
            case .redirect(let location)?:
                return Response(status: .found, headers: [.location: location])
            case .status(let code)?:
                return Response(status: .init(code: code), body: .init(byteBuffer: ByteBuffer(string: "error \(code)")))
            case nil:
                return Response(status: .notFound)
            }
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: Logger(label: "indexer", factory: { _ in SwiftLogNoOpLogHandler() }))
        task = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        port = await iterator.next() ?? 0
    }

    deinit { task?.cancel() }

    /// The download URL for `id`, answering `answer`.
    func serve(_ id: String, _ answer: Answer) -> String {
        answers.withLock { $0[id] = answer }
        return "http://127.0.0.1:\(port)/download/\(id)?apikey=\(apiKey)"
    }

    /// The ids asked for, in order.
    var requested: [String] { requests.withLock { $0 } }
}
