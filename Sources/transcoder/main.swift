print("transcoder")
