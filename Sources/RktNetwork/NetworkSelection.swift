import Stage1Protocol

/// What `--net` asked for (rkt's forms): absent or bare = `default`, `host`, `none`, `all`, or a
/// comma list `name1,name2:IP=10.1.2.3;K=V` (the flag may repeat; its values join).
public enum NetworkSelection: Sendable, Equatable {
    /// The host's network namespace.
    case host
    /// A namespace of its own with only loopback.
    case none
    /// CNI networks: `all` = every configured network (user files plus the built-in `default`);
    /// `named` = these networks, each with its CNI_ARGS (with `all`, extra names only add args).
    case networks(all: Bool, named: [Network])

    /// Parses the `--net` values. `[]` is the caller's default (see `defaultSelection`).
    public static func parse(_ values: [String]) throws(NetworkError) -> NetworkSelection {
        let step = "--net"
        var entries: [Network] = []
        for value in values {
            // `--net` bare is `default`; `--net=` with nothing is an error, as in rkt.
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let parts = item.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let name = parts[0]
                guard !name.isEmpty else { throw NetworkError(.invalidArgument, step: step, "empty network name in \"\(value)\"") }
                guard NetworkConfiguration.isValidName(name) else {
                    throw NetworkError(.invalidArgument, step: step, "\"\(name)\" is not a network name")
                }
                var args: String?
                if parts.count > 1 {
                    let text = parts[1]
                    guard !text.isEmpty else { throw NetworkError(.invalidArgument, step: step, "network \(name): empty arguments after ':'") }
                    for pair in text.split(separator: ";", omittingEmptySubsequences: true) {
                        guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                            throw NetworkError(.invalidArgument, step: step, "network \(name): argument \"\(pair)\" is not K=V")
                        }
                    }
                    args = text
                }
                if entries.contains(where: { $0.name == name }) {
                    throw NetworkError(.invalidArgument, step: step, "network \(name) is given more than once")
                }
                entries.append(Network(name: name, args: args))
            }
        }
        let names = entries.map(\.name)
        for special in ["host", "none"] where names.contains(special) {
            guard entries.count == 1 else {
                throw NetworkError(.invalidArgument, step: step, "\(special) cannot be combined with other networks")
            }
            guard entries[0].args == nil else {
                throw NetworkError(.invalidArgument, step: step, "\(special) takes no arguments")
            }
            return special == "host" ? .host : .none
        }
        if let all = entries.first(where: { $0.name == "all" }) {
            guard all.args == nil else { throw NetworkError(.invalidArgument, step: step, "all takes no arguments") }
            return .networks(all: true, named: entries.filter { $0.name != "all" })
        }
        return .networks(all: false, named: entries)
    }

    /// No `--net`: rkt's default network, or the host's for a stage1 without networking (fly).
    public static func defaultSelection(stage1HasNetworking: Bool) -> NetworkSelection {
        stage1HasNetworking ? .networks(all: false, named: [Network(name: "default")]) : .host
    }

    /// The request's `net` and `networks` members (Documentation/stage1-protocol.md).
    public var protocolMode: (net: NetworkMode, networks: [Network]) {
        switch self {
        case .host: return (.host, [])
        case .none: return (.none, [])
        case .networks(all: false, let named) where named.count == 1 && named[0].name == "default":
            return (.default, named[0].args == nil ? [] : named)
        case .networks(_, let named): return (.list, named)
        }
    }

    /// The networks to attach, in rkt's order (by file name), each with its CNI_ARGS. Unknown
    /// names are an error naming every missing one.
    public func resolve(_ available: [NetworkConfiguration]) throws(NetworkError) -> [(config: NetworkConfiguration, args: String?)] {
        guard case .networks(let all, let named) = self else { return [] }
        let byName = Dictionary(available.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let missing = named.map(\.name).filter { byName[$0] == nil }
        if !missing.isEmpty {
            throw NetworkError(.invalidArgument, step: "--net", "networks not found: \(missing.joined(separator: ", ")) (configure them in <local-config>/net.d)")
        }
        let args = Dictionary(named.map { ($0.name, $0.args) }, uniquingKeysWith: { first, _ in first })
        let chosen: [NetworkConfiguration]
        if all {
            // Every user network, and the built-in default; default-restricted only when named.
            chosen = available.filter { $0.source != "built-in" || $0.name == "default" || args[$0.name] != nil }
        } else {
            chosen = available.filter { args[$0.name] != nil }
        }
        return chosen.sorted { $0.orderKey < $1.orderKey }.map { ($0, args[$0.name] ?? nil) }
    }
}
