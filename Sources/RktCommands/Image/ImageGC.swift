import ArgumentParser
import Foundation
import RktPods
import RktStore

/// `rkt image gc`: old images, unreferenced trees, and leftovers of killed processes.
struct ImageGC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Garbage collect local store")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Option(name: .customLong("grace-period"), help: "duration to wait since an image was last used before removing it")
    var gracePeriod: GoDuration = GoDuration(seconds: 24 * 3600)

    func run() throws {
        let store = try global.openStore("image")
        let report = try store.garbageCollect(gracePeriod: gracePeriod.seconds, referencedTrees: PodReferences.treeStoreIDs(dataDir: store.layout.dataDir))
        func say(_ s: String) { FileHandle.standardError.write(Data("gc: \(s)\n".utf8)) }
        for leftover in report.removedLeftovers { say("removed leftover \(leftover)") }
        for tree in report.removedTrees { say("removed treestore \"\(tree)\"") }
        for image in report.removedImages { say("successfully removed aci for image: \"\(image.key)\"") }
        Stage1Launcher.pruneDescribeCache(dataDir: store.layout.dataDir) { FileManager.default.fileExists(atPath: store.layout.treePath($0)) }
        say("\(report.removedImages.count) image(s) successfully removed")
    }
}

/// Tree stores that pods use (their `stage1TreeStoreID` and `appsinfo/*/treeStoreID` files),
/// which image gc must keep.
enum PodReferences {
    static func treeStoreIDs(dataDir: String) -> Set<String> {
        var ids = Set<String>()
        let fm = FileManager.default
        let pods = dataDir + "/pods"
        for state in (try? fm.contentsOfDirectory(atPath: pods)) ?? [] {
            for uuid in (try? fm.contentsOfDirectory(atPath: pods + "/" + state)) ?? [] {
                let pod = pods + "/" + state + "/" + uuid
                if let id = try? String(contentsOfFile: pod + "/stage1TreeStoreID", encoding: .utf8) { ids.insert(id.trimmingCharacters(in: .whitespacesAndNewlines)) }
                for app in (try? fm.contentsOfDirectory(atPath: pod + "/appsinfo")) ?? [] {
                    if let id = try? String(contentsOfFile: pod + "/appsinfo/" + app + "/treeStoreID", encoding: .utf8) {
                        ids.insert(id.trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                }
            }
        }
        return ids
    }
}
