from openrtc.command import main

main()
