module smartstorage/bench/s3load

go 1.22
