import Crypto
import Foundation

/// Makes small single-file .torrent files and magnets: for the driver
/// conformance suite, which adds torrents of its own to a client.
public enum TorrentMaker {
    public struct Made: Sendable {
        /// The .torrent file.
        public var metainfo: Data
        /// Its v1 info hash, 40 lower-case hex digits.
        public var infoHash: String
        public var name: String

        /// A magnet for the same torrent.
        public var magnet: String {
            "magnet:?xt=urn:btih:\(infoHash)&dn=\(name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "x")"
        }
    }

    /// A torrent of one file `name` holding `content`, pieces of 16 KiB, no tracker.
    public static func singleFile(name: String, content: Data) -> Made {
        let pieceLength = 16 << 10
        var pieces = Data()
        var offset = 0
        repeat {
            let end = min(content.count, offset + pieceLength)
            pieces.append(contentsOf: Insecure.SHA1.hash(data: content[offset..<end]))
            offset = end
        } while offset < content.count
        var info = Data("d6:lengthi\(content.count)e4:name".utf8)
        info.append(bencoded(Data(name.utf8)))
        info.append(Data("12:piece lengthi\(pieceLength)e6:pieces".utf8))
        info.append(bencoded(pieces))
        info.append(Data("e".utf8))
        let hash = Insecure.SHA1.hash(data: info).map { String(format: "%02x", $0) }.joined()
        var file = Data("d10:created by13:pipeline-host4:info".utf8)
        file.append(info)
        file.append(Data("e".utf8))
        return Made(metainfo: file, infoHash: hash, name: name)
    }

    private static func bencoded(_ bytes: Data) -> Data {
        Data("\(bytes.count):".utf8) + bytes
    }
}
