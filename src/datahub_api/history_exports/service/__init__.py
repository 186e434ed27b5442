"""The rules of the yearly one-off history export: :mod:`.requests` (the requests, the
free quota, the operator's side, the download and the service level) and :mod:`.build`
(the job that makes the file)."""
