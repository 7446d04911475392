package export

// SetSinglePutMax lets tests send small exports in parts of partSize.
func SetSinglePutMax(s *S3Store, max int64, partSize uint64) {
	s.singlePutMax, s.partSize = max, partSize
}
