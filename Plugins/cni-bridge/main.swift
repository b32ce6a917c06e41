print("cni-bridge: not built yet")
