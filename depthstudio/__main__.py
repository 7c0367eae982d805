from depthstudio.cli import main

main()
