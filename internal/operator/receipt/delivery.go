package receipt

import (
	"strconv"
	"time"
)

// KindDelivery records that an Access export was handed to the person
// (by the privacy center), once per delivery.
const KindDelivery Kind = "Delivery"

// Delivery records one handing-over of a request's Access export: which
// request, which of its deliveries, how, when, and what was handed over
// (the export's hash, never its data).
type Delivery struct {
	Request string `json:"request"`
	UID     string `json:"uid"`
	// Number counts the request's deliveries: 1 for the first.
	Number int `json:"number"`
	// Format is json (the document, downloaded) or html (a readable page).
	Format      string    `json:"format"`
	DeliveredAt time.Time `json:"deliveredAt"`
	// Channel is the request's channel (privacy-center).
	Channel string `json:"channel,omitempty"`
	// Export is the export as status described it when the delivery was
	// recorded; absent when it had already expired by then.
	Export *Export `json:"export,omitempty"`
	// RequestReceipt is the sequence of the request's own receipt, when
	// it was recorded.
	RequestReceipt uint64 `json:"requestReceipt,omitempty"`
}

// DeliveryOwnerID is the owner id of a request's n-th Delivery receipt.
func DeliveryOwnerID(name, uid string, n int) string {
	return RequestOwnerID(name, uid) + "/delivery/" + strconv.Itoa(n)
}
