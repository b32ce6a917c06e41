import RktCommands

RktMain.main()
