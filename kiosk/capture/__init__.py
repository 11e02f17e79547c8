"""Reading frames and images: camera, file, folder and stream sources, the reader thread, safe image loading."""
