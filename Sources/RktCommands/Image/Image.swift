import ArgumentParser

/// `rkt image ...`: operate on the local image store.
struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Operate on image(s) in the local store",
        subcommands: [ImageList.self, ImageRemove.self, ImageGC.self, ImageExport.self, ImageExtract.self,
                      ImageRender.self, ImageCatManifest.self, ImageVerify.self])

    @OptionGroup(title: "Global options") var global: GlobalOptions

    func run() throws {
        throw CleanExit.helpRequest(self)
    }
}
