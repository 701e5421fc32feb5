import DownloadClientKit
import Crypto
import Foundation

/// The facts of a .torrent file the download jobs need: its v1 info hash
/// (SHA-1 of the bencoded `info` dictionary, byte for byte as in the file)
/// and its name.
public struct TorrentMetainfo: Sendable, Equatable {
    /// 40 lower-case hex digits.
    public var infoHash: String
    /// `info.name`, when present.
    public var name: String?

    /// A .torrent file that is not well-formed bencode with an `info` dictionary.
    public struct Malformed: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Reads a .torrent file.
    ///
    /// - Throws: ``Malformed`` saying what is wrong and at which byte.
    public init(_ data: Data) throws(Malformed) {
        let bytes = [UInt8](data)
        var parser = BencodeScanner(bytes: bytes)
        guard bytes.first == UInt8(ascii: "d") else { throw Malformed(description: "a .torrent file starts with a dictionary ('d'); this does not") }
        var infoRange: Range<Int>?
        var name: String?
        try parser.scanDictionary { key, parser throws(Malformed) in
            if key == Array("info".utf8) {
                guard parser.peek == UInt8(ascii: "d") else { throw Malformed(description: "'info' is not a dictionary") }
                let start = parser.position
                try parser.scanDictionary { key, parser throws(Malformed) in
                    if key == Array("name".utf8), let text = try parser.scanStringIfPresent() {
                        name = String(decoding: text, as: UTF8.self)
                    } else {
                        try parser.skipValue()
                    }
                }
                infoRange = start..<parser.position
            } else {
                try parser.skipValue()
            }
        }
        guard let infoRange else { throw Malformed(description: "there is no 'info' dictionary") }
        let digest = Insecure.SHA1.hash(data: bytes[infoRange])
        infoHash = digest.map { String(format: "%02x", $0) }.joined()
        self.name = name
    }
}

/// A bencode reader that only walks: it finds where values start and end.
struct BencodeScanner {
    let bytes: [UInt8]
    var position = 0
    private var depth = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    private func malformed(_ what: String) -> TorrentMetainfo.Malformed {
        TorrentMetainfo.Malformed(description: "\(what) at byte \(position)")
    }

    mutating func scanDictionary(_ each: (_ key: [UInt8], inout BencodeScanner) throws(TorrentMetainfo.Malformed) -> Void)
        throws(TorrentMetainfo.Malformed)
    {
        guard peek == UInt8(ascii: "d") else { throw malformed("expected a dictionary") }
        depth += 1
        guard depth <= 64 else { throw malformed("nesting deeper than 64") }
        position += 1
        while peek != UInt8(ascii: "e") {
            guard peek != nil else { throw malformed("the file ends inside a dictionary") }
            let key = try scanString()
            try each(key, &self)
        }
        position += 1
        depth -= 1
    }

    mutating func scanStringIfPresent() throws(TorrentMetainfo.Malformed) -> [UInt8]? {
        guard let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else {
            try skipValue()
            return nil
        }
        return try scanString()
    }

    mutating func scanString() throws(TorrentMetainfo.Malformed) -> [UInt8] {
        var length = 0
        var digits = 0
        while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
            position += 1
            guard digits <= 12 else { throw malformed("a string length that is too long") }
        }
        guard digits > 0, peek == UInt8(ascii: ":") else { throw malformed("expected a string") }
        position += 1
        guard length <= bytes.count - position else { throw malformed("a string runs past the end of the file") }
        defer { position += length }
        return Array(bytes[position..<position + length])
    }

    mutating func skipValue() throws(TorrentMetainfo.Malformed) {
        guard let byte = peek else { throw malformed("the file ends where a value should be") }
        switch byte {
        case UInt8(ascii: "i"):
            position += 1
            guard let end = bytes[position...].firstIndex(of: UInt8(ascii: "e")), end > position else {
                throw malformed("an integer without an end")
            }
            position = end + 1
        case UInt8(ascii: "l"):
            depth += 1
            guard depth <= 64 else { throw malformed("nesting deeper than 64") }
            position += 1
            while peek != UInt8(ascii: "e") {
                guard peek != nil else { throw malformed("the file ends inside a list") }
                try skipValue()
            }
            position += 1
            depth -= 1
        case UInt8(ascii: "d"):
            try scanDictionary { _, parser throws(TorrentMetainfo.Malformed) in try parser.skipValue() }
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try scanString()
        default:
            throw malformed("an unexpected byte \(byte)")
        }
    }
}

/// A magnet link's info hash.
public enum MagnetLink {
    /// The v1 info hash of a `magnet:?xt=urn:btih:…` link (40 hex or 32
    /// base32 digits), as 40 lower-case hex digits; nil when the link has none.
    public static func infoHash(of magnet: String) -> String? {
        guard magnet.lowercased().hasPrefix("magnet:?") else { return nil }
        let query = magnet.dropFirst("magnet:?".count)
        for field in query.split(separator: "&") {
            let pair = field.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].lowercased() == "xt" else { continue }
            let value = (String(pair[1]).removingPercentEncoding ?? String(pair[1]))
            guard value.lowercased().hasPrefix("urn:btih:") else { continue }
            let digits = String(value.dropFirst("urn:btih:".count))
            if digits.count == 40, digits.allSatisfy(\.isHexDigit) { return digits.lowercased() }
            if digits.count == 32, let bytes = base32Decode(digits.uppercased()) {
                return bytes.map { String(format: "%02x", $0) }.joined()
            }
        }
        return nil
    }

    /// The characters a magnet value keeps as they are.
    private static let plainValue = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    /// `magnet` for records and logs: the info hash, name and size kept,
    /// each tracker cut to its scheme, host and port (a private tracker's
    /// announce URL carries the user's passkey in its path or query), and
    /// at most 300 characters in all.
    public static func redactingSecrets(_ magnet: String) -> String {
        guard magnet.lowercased().hasPrefix("magnet:?") else { return String(magnet.prefix(40)) + "…" }
        let fields = magnet.dropFirst("magnet:?".count).split(separator: "&").map { field -> String in
            let pair = field.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, ["tr", "ws", "as", "xs"].contains(pair[0].lowercased()) else { return String(field) }
            let value = String(pair[1]).removingPercentEncoding ?? String(pair[1])
            guard let url = URLComponents(string: value), let scheme = url.scheme, let host = url.host else {
                return "\(pair[0])=***"
            }
            let hidden = (url.path.isEmpty || url.path == "/") && url.query == nil ? "" : "/***"
            let base = "\(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "") + hidden
            return "\(pair[0])=" + (base.addingPercentEncoding(withAllowedCharacters: Self.plainValue) ?? "***")
        }
        let text = "magnet:?" + fields.joined(separator: "&")
        return text.count > 300 ? String(text.prefix(300)) + "…" : text
    }

    private static func base32Decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var buffer = 0
        var bits = 0
        var output: [UInt8] = []
        for character in text {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            buffer = (buffer << 5) | value
            bits += 5
            if bits >= 8 {
                output.append(UInt8((buffer >> (bits - 8)) & 0xff))
                bits -= 8
            }
        }
        return output.count == 20 ? output : nil
    }
}
