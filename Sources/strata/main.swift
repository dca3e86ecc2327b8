internal import StrataCLI

await StrataCommand.runMain()
