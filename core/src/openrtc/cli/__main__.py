from openrtc.cli.main import main

main()
