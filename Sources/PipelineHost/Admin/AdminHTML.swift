import Foundation

/// Building the admin page's HTML: every value from outside goes through
/// ``escape(_:)``; the layout, the navigation and the forms live here once.
enum AdminHTML {
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    /// A query string of the non-empty `parameters`, percent-encoded.
    static func query(_ parameters: [(String, String?)]) -> String {
        let pairs = parameters.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            let encoded = value.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+#")))
            return "\(name)=\(encoded ?? "")"
        }
        return pairs.isEmpty ? "" : "?" + pairs.joined(separator: "&")
    }

    /// A page: the navigation, a flash message, and `body`.
    static func page(title: String, active: String, csrfToken: String, flash: String? = nil, body: String) -> String {
        let links = [("requests", "Requests"), ("jobs", "Jobs"), ("schedules", "Schedules"), ("queues", "Queues"), ("blocklist", "Blocklist")].map { path, label in
            "<a href=\"/admin/\(path)\"\(path == active ? " class=\"active\"" : "")>\(label)</a>"
        }.joined()
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · pipeline-host</title>
            <link rel="stylesheet" href="/admin/static/admin.css">
            <script src="/admin/static/admin.js" defer></script>
            </head>
            <body>
            <header><strong>pipeline-host</strong><nav>\(links)</nav>
            <form method="post" action="/admin/logout" class="inline">\(csrfField(csrfToken))<button type="submit">Sign out</button></form>
            </header>
            <main>
            <h1>\(escape(title))</h1>
            \(flash.map { "<p class=\"flash\" id=\"flash\">\(escape($0))</p>" } ?? "")
            \(body)
            </main>
            </body>
            </html>
            """
    }

    static func csrfField(_ token: String) -> String {
        "<input type=\"hidden\" name=\"csrf\" value=\"\(escape(token))\">"
    }

    /// A region the page's script fetches again every two seconds (`?fragment=1`), so it stays current without a reload.
    static func live(_ id: String, source: String, _ content: String) -> String {
        "<section id=\"\(id)\" data-refresh=\"\(escape(source))\">\(content)</section>"
    }

    static func table(_ headers: [String], _ rows: [String], empty: String) -> String {
        guard !rows.isEmpty else { return "<p class=\"empty\">\(escape(empty))</p>" }
        return "<table><thead><tr>" + headers.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>"
            + rows.joined() + "</tbody></table>"
    }

    /// A status as a badge: the CSS class is the status itself (only letters and `_`).
    static func badge(_ status: String) -> String {
        let safe = status.filter { $0.isLetter || $0 == "_" }
        return "<span class=\"badge \(safe)\">\(escape(status))</span>"
    }

    /// The sign-in page (styled inline: nothing else under /admin is served before signing in).
    static func signIn(error: String?, next: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head><meta charset="utf-8"><title>Sign in · pipeline-host</title>
        <style>body{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;padding-top:10vh}
        form{background:#fff;padding:2em;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:22em}
        input{width:100%;padding:.5em;margin:.5em 0 1em;box-sizing:border-box}button{padding:.5em 1.5em}
        .error{color:#b00020}</style></head>
        <body>
        <form method="post" action="/admin/login">
        <h1>pipeline-host</h1>
        \(error.map { "<p class=\"error\" id=\"error\">\(escape($0))</p>" } ?? "")
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" autofocus>
        <input type="hidden" name="next" value="\(escape(next))">
        <button type="submit" id="sign-in">Sign in</button>
        </form>
        </body>
        </html>
        """
    }

    static let stylesheet = """
        body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
        header{display:flex;gap:1.5em;align-items:center;background:#1d2330;color:#fff;padding:.6em 1.5em}
        header nav{display:flex;gap:1em;flex:1}header a{color:#cfd6e4;text-decoration:none}header a.active{color:#fff;font-weight:600}
        main{padding:1em 1.5em}h1{font-size:1.3em}table{border-collapse:collapse;width:100%;background:#fff}
        th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e6ec;vertical-align:top;font-size:.92em}
        th{background:#eef0f4}.badge{padding:.1em .5em;border-radius:1em;background:#dde2ea;font-size:.85em;white-space:nowrap}
        .badge.available,.badge.completed{background:#cdeccf}.badge.failed,.badge.error{background:#f6c9cc}
        .badge.warn,.badge.awaiting_import,.badge.awaiting_search{background:#f7e3b5}.badge.active,.badge.downloading{background:#cfe0fb}
        .progress{background:#e3e6ec;border-radius:3px;width:8em;height:.7em;display:inline-block}
        .progress span{display:block;height:100%;background:#3b7ddd;border-radius:3px}
        .events li{list-style:none;padding:.3em .5em;margin:.2em 0;border-left:4px solid #9aa5b8;background:#fff}
        .events li.info{border-color:#3b7ddd}.events li.warn{border-color:#e0a100;background:#fff8e6}
        .events li.error{border-color:#c62828;background:#fdecee}.level{font-weight:600;text-transform:uppercase;font-size:.8em;margin-right:.5em}
        pre{white-space:pre-wrap;background:#f7f8fa;padding:.5em;margin:.3em 0}.flash{background:#e7f3e8;padding:.5em 1em;border-radius:4px}
        form.inline{display:inline}.filters input,.filters select{margin-right:.5em}.empty{color:#6b7486}
        """

    static let script = """
        // Regions marked data-refresh are fetched again every two seconds and
        // replaced in place: the page stays current without a reload.
        (function () {
          function refresh() {
            document.querySelectorAll('[data-refresh]').forEach(function (region) {
              if (region.querySelector('details[open]')) return;
              fetch(region.dataset.refresh, {credentials: 'same-origin', headers: {'Accept': 'text/html'}})
                .then(function (response) {
                  if (response.status === 401 || response.redirected) { window.location = '/admin/login'; return null; }
                  return response.ok ? response.text() : null;
                })
                .then(function (html) { if (html !== null && html !== undefined) region.innerHTML = html; })
                .catch(function () {});
            });
          }
          setInterval(refresh, 2000);
        })();
        """
}
