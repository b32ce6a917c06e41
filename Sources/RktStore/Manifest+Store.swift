import Foundation
import RktTypes

/// The few manifest facts the store needs, read through one adapter so the store does not
/// depend on the shape of every appc type.
struct StoreManifestFacts {
    var name: String
    var labels: [String: String]
    var dependencies: [(name: String, imageID: String?, labels: [String: String])]
    var pathWhitelist: [String]

    init(_ manifest: ImageManifest) {
        name = manifest.name.rawValue
        var labels: [String: String] = [:]
        for label in manifest.labels { labels[label.name.rawValue] = label.value }
        self.labels = labels
        dependencies = manifest.dependencies.map { dep in
            var l: [String: String] = [:]
            for label in dep.labels { l[label.name.rawValue] = label.value }
            return (dep.imageName.rawValue, dep.imageID?.description, l)
        }
        pathWhitelist = manifest.pathWhitelist
    }
}

extension ImageStore {
    /// Parses and validates an image manifest as appc requires, with a store-level error.
    static func validatedManifest(_ data: Data) throws(StoreError) -> ImageManifest {
        do {
            return try ImageManifest.decode(data)
        } catch {
            throw StoreError(.invalidImage, "invalid image manifest: \(error)", cause: error)
        }
    }
}
