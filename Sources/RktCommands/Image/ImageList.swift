import ArgumentParser
import Foundation
import RktFetch
import RktStore
import RktTypes

/// `rkt image list`.
struct ImageList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List images in the local store")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    enum Field: String, CaseIterable, ExpressibleByArgument {
        case id, name, importtime, lastused, size, latest, layers

        var header: String {
            switch self {
            case .id: "ID"
            case .name: "NAME"
            case .importtime: "IMPORT TIME"
            case .lastused: "LAST USED"
            case .size: "SIZE"
            case .latest: "LATEST"
            case .layers: "LAYERS"
            }
        }
    }

    @Option(help: "comma-separated list of fields to display: id, name, importtime, lastused, size, latest, layers")
    var fields: String = "id,name,size,importtime,lastused"

    @Option(help: "sort the output by these comma-separated fields")
    var sort: String = "importtime"

    @Option(help: "choose the sorting order: asc or desc")
    var order: String = "asc"

    @Flag(help: "use long output format")
    var full = false

    @Flag(name: .customLong("no-legend"), help: "suppress a legend with the list")
    var noLegend = false

    @Option(help: "choose the output format: json or json-pretty (default: a table)")
    var format: OutputFormat = .table

    struct Entry: Encodable {
        let id: String
        let name: String
        let import_time: Date
        let last_used: Date
        let size: Int64
        let latest: Bool
        /// A Docker/OCI image: the IDs of its layer images, bottom first.
        let layers: [String]?
        /// A layer image: the IDs of the images that have it.
        let layer_of: [String]?
    }

    func parsedFields(_ text: String) throws -> [Field] {
        try text.split(separator: ",").map { raw in
            let word = raw.trimmingCharacters(in: .whitespaces).lowercased()
            guard let field = Field(rawValue: word) else {
                throw ValidationError("unknown field \"\(word)\": want one of \(Field.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return field
        }
    }

    func validate() throws {
        _ = try parsedFields(fields)
        _ = try parsedFields(sort)
        guard order == "asc" || order == "desc" else { throw ValidationError("--order must be asc or desc, not \"\(order)\"") }
    }

    func run() throws {
        let store = try global.openStore("image")
        let shown = try parsedFields(fields)
        let sortKeys = try parsedFields(sort)
        var images: [(info: ImageInfo, displayName: String)] = []
        let all = try store.allImages()
        for info in all {
            images.append((info, displayName(store: store, info: info)))
        }
        // Registry layers are images of their own (`oci-layer/sha256-…`), listed like any other;
        // the layers field tells them apart: the layers of an image, the images of a layer.
        let layerUsers = try store.dependents(among: all).filter { !$0.value.isEmpty }
        var layersOf: [String: [String]] = [:]
        for (layer, users) in layerUsers where store.isLayerImage(key: layer) {
            for user in users { layersOf[user, default: []].append(layer) }
        }
        images.sort { a, b in
            for key in sortKeys {
                let ordering = compare(a, b, by: key)
                if ordering != .orderedSame { return order == "asc" ? ordering == .orderedAscending : ordering == .orderedDescending }
            }
            return a.info.key < b.info.key
        }
        let rows = images.map { image in
            shown.map { field -> String in
                switch field {
                case .id: full ? image.info.key : ImageKey.short(image.info.key)
                case .name: image.displayName
                case .importtime: full ? Output.absoluteTime(image.info.importTime) : Output.relativeTime(image.info.importTime)
                case .lastused: full ? Output.absoluteTime(image.info.lastUsed) : Output.relativeTime(image.info.lastUsed)
                case .size: full ? "\(image.info.totalSize)" : Output.humanSize(image.info.totalSize)
                case .latest: image.info.latest ? "true" : "false"
                case .layers:
                    if let users = layerUsers[image.info.key], store.isLayerImage(key: image.info.key) {
                        "layer of \(users.count) image\(users.count == 1 ? "" : "s")"
                    } else if let layers = layersOf[image.info.key] {
                        "\(layers.count)"
                    } else {
                        store.isLayerImage(key: image.info.key) ? "unused layer" : "-"
                    }
                }
            }
        }
        let json = images.map {
            Entry(id: $0.info.key, name: $0.displayName, import_time: $0.info.importTime, last_used: $0.info.lastUsed,
                  size: $0.info.totalSize, latest: $0.info.latest,
                  layers: (try? store.layerKeys(of: $0.info.key)).flatMap { $0.isEmpty ? nil : $0 },
                  layer_of: store.isLayerImage(key: $0.info.key) ? (layerUsers[$0.info.key] ?? []).sorted() : nil)
        }
        Output.print(try Output.render(header: shown.map(\.header), rows: rows, json: json, format: format, legend: !noLegend))
    }

    /// `name:version` as rkt shows it, the version label when the manifest has one.
    private func displayName(store: ImageStore, info: ImageInfo) -> String {
        guard let manifest = try? store.manifest(key: info.key),
              let version = manifest.labels.first(where: { $0.name.rawValue == "version" })?.value else { return info.name }
        return info.name + ":" + version
    }

    private func compare(_ a: (info: ImageInfo, displayName: String), _ b: (info: ImageInfo, displayName: String), by field: Field) -> ComparisonResult {
        func cmp<T: Comparable>(_ x: T, _ y: T) -> ComparisonResult { x < y ? .orderedAscending : (x > y ? .orderedDescending : .orderedSame) }
        switch field {
        case .id: return cmp(a.info.key, b.info.key)
        case .name: return cmp(a.displayName, b.displayName)
        case .importtime: return cmp(a.info.importTime, b.info.importTime)
        case .lastused: return cmp(a.info.lastUsed, b.info.lastUsed)
        case .size: return cmp(a.info.totalSize, b.info.totalSize)
        case .latest: return cmp(a.info.latest ? 1 : 0, b.info.latest ? 1 : 0)
        case .layers: return cmp(LayerNaming.isLayerName(a.info.name) ? 1 : 0, LayerNaming.isLayerName(b.info.name) ? 1 : 0)
        }
    }
}
